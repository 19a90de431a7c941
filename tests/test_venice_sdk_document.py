"""Every Python example of the original SDK's document runs against the sandbox, as written.

The document (docs/reference/account-management-api.md, a copy of the SDK design the client
keeps) is read as a new user would read it: its examples run in order, in one namespace, since
later ones use what earlier ones made (`api_keys`, `billing`, `UnauthorizedError`). Only three
things are rewritten: the import lines (`venice_sdk` is `accounts.venice` here), the
placeholder key id "key-123" (a fresh sandbox key for each example that names it), and the
placeholder secrets "admin-key-here" and "inference-key-here" (names bound to the sandbox's
demo secrets, so no secret is ever in source text a failure could print). One statement is
skipped, by name: the inference call (see SKIPPED_CALLS).

`VeniceClient()` finds the embedded sandbox (no VENICE_API_KEY); `VeniceClient(api_key=...)`
goes over real HTTP to VENICE_API_BASE, here the same sandbox served on 127.0.0.1. So every
constructor form of the document is exercised, each the way a library user would meet it.

The document's dataclass declarations run too (they need only the names a module declaring them
would import), and every field they declare is checked on our objects, with its type.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import io
import re
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Dict, List, Optional, Union  # noqa: UP035 - the document's own names

import pytest
from django.conf import settings

import accounts.venice as venice_package
from accounts.sandbox.catalog import MODELS_BY_ID
from accounts.venice import APIKey, UnauthorizedError, VeniceClient

DOCUMENT = Path(settings.BASE_DIR) / "docs" / "reference" / "account-management-api.md"
PLACEHOLDER_KEY_ID = '"key-123"'
PLACEHOLDER_SECRETS = {
    '"admin-key-here"': "SANDBOX_ADMIN_KEY",
    '"inference-key-here"': "SANDBOX_INFERENCE_KEY",
}
# Statements left out, by the call they make, and why. Only these, and each exactly once.
SKIPPED_CALLS = {
    "chat.complete": "inference (chat completions) is not the account API: the portal's "
    "client has no `chat`, by design, so the document's one inference call is out of scope",
}
# What a module declaring the document's dataclasses would have imported.
DECLARATION_NAMES = {
    "dataclass": dataclass,
    "datetime": datetime,
    "Any": Any,
    "Dict": Dict,  # noqa: UP006
    "List": List,  # noqa: UP006
    "Optional": Optional,
    "Union": Union,
}
# Where our field's type is not the document's, because the client follows the real API
# (docs/sdk.md says the same, field by field).
REAL_API_TYPES = {
    ("APIKey", "created_at"): datetime,  # timestamps are aware datetimes, not str or int
    ("APIKey", "last_used"): datetime | None,  # None: never used
    ("UsageInfo", "total_usage"): Decimal,  # money is exact: USD spent
    ("UsageInfo", "credits_remaining"): Decimal | None,  # the USD balance
    ("UsageInfo", "billing_period_start"): datetime,
    ("UsageInfo", "billing_period_end"): datetime,
    ("RateLimitLog", "response_time"): type(None),  # Venice's log does not record it
    ("RateLimitLog", "tokens_used"): type(None),  # nor this
}


@dataclass
class Block:
    heading: str  # the document's heading above the block, without #s and backticks
    source: str

    @property
    def declares_a_dataclass(self) -> bool:
        return "@dataclass" in self.source


def document_blocks() -> list[Block]:
    blocks, heading = [], ""
    lines = iter(DOCUMENT.read_text().splitlines())
    for line in lines:
        if line.startswith("#"):
            heading = line.lstrip("#").strip().replace("`", "")
        elif line.strip() == "```python":
            source = []
            for code in lines:
                if code.strip() == "```":
                    break
                source.append(code)
            blocks.append(Block(heading, "\n".join(source) + "\n"))
    return blocks


def _call_name(node: ast.AST) -> str | None:
    """`a.b.chat.complete(...)` -> "a.b.chat.complete"."""
    if not isinstance(node, ast.Call):
        return None
    parts, func = [], node.func
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


class _SkipCalls(ast.NodeTransformer):
    def __init__(self):
        self.skipped: list[str] = []

    def _skip(self, node):
        name = _call_name(node.value)
        for call in SKIPPED_CALLS:
            if name and (name == call or name.endswith("." + call)):
                self.skipped.append(call)
                return None
        return node

    visit_Expr = visit_Assign = _skip  # noqa: N815 - ast's visitor names


@dataclass
class Run:
    """What running the document did: each example's printed output (secrets redacted),
    the key id put in place of "key-123", the statements skipped, the shared namespace."""

    blocks: list[Block]
    keys_before: set[str]  # the sandbox's keys before the first example
    keys_after: dict[str, int]  # how many keys the sandbox had after each example
    printed: dict[str, str]
    key_ids: dict[str, str]
    skipped: list[str]
    rewritten_imports: list[str]
    # It holds the sandbox's secrets: kept out of the repr pytest prints on a failure.
    namespace: dict[str, Any] = dataclasses.field(repr=False)

    def output(self, heading: str) -> str:
        [found] = [text for name, text in self.printed.items() if name.startswith(heading)]
        return found


def rewrite(block: Block, key_id: str | None) -> tuple[str, list[str]]:
    lines, imports = [], []
    for line in block.source.splitlines():
        if line.startswith("from venice_sdk"):
            line = line.replace("venice_sdk", "accounts.venice", 1)
            imports.append(line)
        lines.append(line)
    source = "\n".join(lines)
    if key_id is not None:
        source = source.replace(PLACEHOLDER_KEY_ID, repr(key_id))
    for placeholder, name in PLACEHOLDER_SECRETS.items():
        source = source.replace(placeholder, name)
    return source, imports


def _redact(text: str, secrets: set[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<secret>")
    return text


@pytest.fixture
def run(settings, sandbox, served) -> Run:
    """Run every example of the document, in order, against this test's sandbox."""
    settings.VENICE_API_KEY = ""  # VeniceClient() finds the embedded sandbox
    settings.VENICE_API_BASE = served  # VeniceClient(api_key=...) goes over HTTP to it
    setup = VeniceClient(sandbox=sandbox)
    secrets = {sandbox.admin_key, sandbox.inference_key}
    namespace: dict[str, Any] = {
        "__name__": "sdk_document",
        "SANDBOX_ADMIN_KEY": sandbox.admin_key,
        "SANDBOX_INFERENCE_KEY": sandbox.inference_key,
    }
    blocks = [block for block in document_blocks() if not block.declares_a_dataclass]
    keys_before = set(sandbox.key_ids(include_expired=False))
    printed, keys_after, key_ids, skipped, imports = {}, {}, {}, [], []
    for index, block in enumerate(blocks):
        key_id = None
        if PLACEHOLDER_KEY_ID in block.source:
            key_id = key_ids[block.heading] = setup.api_keys.create("SDK example").id
        source, rewritten = rewrite(block, key_id)
        imports += rewritten
        tree = ast.parse(source)
        skipper = _SkipCalls()
        tree = ast.fix_missing_locations(skipper.visit(tree))
        skipped += skipper.skipped
        code = compile(tree, f"<SDK document, example {index}: {block.heading}>", "exec")
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            exec(code, namespace)  # noqa: S102 - the document's example, rewritten as above
        secrets |= {
            value.secret
            for value in namespace.values()
            if isinstance(value, APIKey) and value.secret
        }
        printed[block.heading] = _redact(output.getvalue(), secrets)
        keys_after[block.heading] = len(sandbox.key_ids(include_expired=False))
    setup.close()
    return Run(blocks, keys_before, keys_after, printed, key_ids, skipped, imports, namespace)


def _lines(text: str) -> list[str]:
    return text.splitlines()


# --- the whole document ---------------------------------------------------------------------------


def test_every_example_of_the_document_runs_against_the_sandbox(run):
    # The fixture raised if any example did; each example ran to its end and printed.
    assert len(run.blocks) == 20
    silent = [block.heading for block in run.blocks if not run.printed[block.heading]]
    # Those that only assign (`client = ...`), and the two whose except branch did not run.
    assert silent == [
        "APIKeysAPI",
        "update(key_id: str, name: Optional[str] = None, permissions: Optional[List[str]] = None) "
        "-> Optional[APIKey]",
        "BillingAPI",
        "AccountManager",
        "Error Handling",
    ]


def test_only_the_import_lines_placeholders_and_the_inference_call_are_changed(run):
    assert run.rewritten_imports == [
        "from accounts.venice import VeniceClient",
        "from accounts.venice.errors import APIKeyError, BillingError, UnauthorizedError",
        "from accounts.venice import VeniceClient",
        "from accounts.venice import VeniceClient",
    ]
    assert run.skipped == ["chat.complete"]
    assert set(run.key_ids) == {
        "get(key_id: str) -> Optional[APIKey]",
        "delete(key_id: str) -> bool",
        "update(key_id: str, name: Optional[str] = None, permissions: Optional[List[str]] = None) "
        "-> Optional[APIKey]",
    }


def test_every_constructor_form_reaches_the_sandbox(run, served):
    client, admin, inference = (
        run.namespace[name] for name in ("client", "admin_client", "inference_client")
    )

    assert client.is_sandbox  # VeniceClient(): no VENICE_API_KEY, the embedded sandbox
    # VeniceClient(api_key=...): the live path, over HTTP to VENICE_API_BASE
    assert not admin.is_sandbox and admin.base_url == served == inference.base_url
    assert len(run.namespace["admin_keys"]) == run.keys_after["Admin vs Inference Key Usage"]


def test_the_documented_errors_import_from_the_package_and_its_errors_module():
    from accounts.venice import errors

    for name in ("APIKeyError", "BillingError", "UnauthorizedError"):
        assert getattr(errors, name) is getattr(venice_package, name)


# --- API keys ---------------------------------------------------------------------------------


def test_the_list_example_prints_each_keys_type_from_its_permissions(run, sandbox):
    lines = _lines(run.output("list()"))

    listed = {line.rsplit("(", 1)[1].rstrip(")") for line in lines if line.startswith("Key: ")}
    assert listed == run.keys_before
    types = {line.removeprefix("  Type: ") for line in lines if line.startswith("  Type: ")}
    assert types == {"ADMIN", "INFERENCE"}
    actives = [line for line in lines if line.startswith("  Active: ")]
    assert actives and set(actives) == {"  Active: True"}


def test_the_get_example_finds_the_key_it_names(run):
    assert run.output("get(") == "Found key: SDK example\n"


def test_the_create_example_makes_an_inference_and_an_admin_key(run, sandbox):
    first, second = _lines(run.output("create("))
    new_key_id = first.removeprefix("Created key: ")

    assert second == "API Key: <secret>"  # printed, as the document does; redacted here
    new_key = sandbox.find_key(new_key_id)
    assert (new_key.api_key_type, new_key.description) == ("INFERENCE", "My New Key")
    admin_key = sandbox.find_key(run.namespace["admin_key"].id)
    assert (admin_key.api_key_type, admin_key.description) == ("ADMIN", "Admin Key")


def test_the_delete_example_deletes_the_key_it_names(run, sandbox):
    key_id = run.key_ids["delete(key_id: str) -> bool"]

    assert run.output("delete(") == "Key deleted successfully\n"
    assert key_id not in sandbox.key_ids()


def test_the_update_example_renames_the_key_instead_of_failing(run, sandbox):
    [key_id] = [value for heading, value in run.key_ids.items() if heading.startswith("update(")]

    assert run.output("update(") == ""  # the except branch did not run
    assert run.namespace["updated_key"].name == "Updated Name"
    assert sandbox.find_key(key_id).description == "Updated Name"


def test_the_rate_limit_example_prints_llamas_limits_and_the_headers_budget(run):
    llama = MODELS_BY_ID["llama-3.3-70b"]
    lines = _lines(run.output("get_rate_limits()"))

    assert lines[:2] == [f"Requests per minute: {llama.rpm}", f"Tokens per minute: {llama.tpm}"]
    assert re.fullmatch(
        r"Current usage: \{'requests': \d+, 'requests_remaining': \d+, 'requests_limit': \d+\}",
        lines[2],
    )


def test_the_rate_limit_log_example_prints_ten_violations(run, sandbox):
    lines = _lines(run.output("get_rate_limits_log("))

    assert len(lines) == 3 * 10
    assert all(line.startswith("Rate limit exceeded at 20") for line in lines[::3])
    assert {line.removeprefix("Endpoint: ") for line in lines[1::3]} <= set(MODELS_BY_ID)
    assert {line.removeprefix("Error type: ") for line in lines[2::3]} <= {
        "RPM",
        "RPD",
        "TPM",
        "FAILED_REQUESTS",
        "UNSUPPORTED_FEATURE_REQUESTS",
    }


# --- billing and the account --------------------------------------------------------------------


def test_the_billing_examples_print_the_sandboxs_figures(run, sandbox):
    client = VeniceClient(sandbox=sandbox)
    analytics = client.billing.get_usage_analytics("30d")
    balance = Decimal(str(sandbox.usd_balance))

    usage = _lines(run.output("get_usage()"))
    assert usage[:3] == [
        f"Total usage: {analytics.total_usd}",
        f"Credits remaining: {balance}",
        "Current period: 30d",
    ]
    assert usage[3:] == [
        f"{model.model_name}: None requests, {model.total_usd} cost" for model in analytics.by_model
    ]
    assert run.output("get_credits_remaining()") == f"Credits remaining: {balance}\n"
    assert run.output("get_total_usage()") == f"Total usage: {analytics.total_usd}\n"
    summary = _lines(run.output("get_billing_summary()"))
    assert summary == [
        f"Current balance: {balance}",
        f"Total spent: {analytics.total_usd}",
        "Subscription status: active",
    ]
    by_model = _lines(run.output("get_usage_by_model()"))
    assert by_model[0] == f"Model: {analytics.by_model[0].model_name}"
    assert len(by_model) == 4 * len(analytics.by_model)


def test_the_account_examples_find_every_part(run, sandbox):
    summary = _lines(run.output("get_account_summary()"))

    assert summary[0] == f"API Keys: {run.keys_after['get_account_summary() -> Dict[str, Any]']}"
    assert summary[1].startswith("Total usage: ") and summary[1] != "Total usage: N/A"
    assert summary[2].startswith("Rate limits: RateLimits(")
    status = _lines(run.output("check_rate_limit_status()"))
    assert status[0] in ("Status: ok", "Status: warning")
    assert status[1].startswith("Message: ") and status[1] != "Message: No message"
    assert status[2].startswith("Current usage: {'requests': ")


def test_the_workflow_example_creates_and_deletes_its_key(run, sandbox):
    lines = _lines(run.output("Complete Account Management Workflow"))
    created = next(line for line in lines if line.startswith("Created new key: "))

    assert created.removeprefix("Created new key: ") not in sandbox.key_ids()
    assert lines[-1] == "Test key deleted"
    assert re.fullmatch(r"Rate limits: \d+ req/min", lines[-3])


def test_the_inference_key_is_refused_key_management(run):
    assert run.output("Admin vs Inference Key Usage") == (
        "Admin permissions required for API key management\n"
    )
    assert "inference_keys" not in run.namespace  # list() raised before the assignment
    assert isinstance(run.namespace["admin_keys"], list)


def test_the_inference_keys_list_raises_unauthorized(sandbox, served, settings):
    settings.VENICE_API_BASE = served
    inference_client = VeniceClient(api_key=sandbox.inference_key)

    with pytest.raises(UnauthorizedError):
        inference_client.api_keys.list()


# --- the dataclasses ---------------------------------------------------------------------------


def _conforms(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        return any(_conforms(value, arg) for arg in args)
    if origin is dict:
        return isinstance(value, dict) and all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()
        )
    if origin is list:
        return isinstance(value, list) and all(_conforms(item, args[0]) for item in value)
    return isinstance(value, annotation)


def _ours(sandbox) -> dict[str, Any]:
    client = VeniceClient(sandbox=sandbox)
    return {
        "APIKey": client.api_keys.list()[0],
        "UsageInfo": client.billing.get_usage(),
        "RateLimits": client.api_keys.get_rate_limits(),
        "RateLimitLog": client.api_keys.get_rate_limits_log()[0],
    }


def test_every_field_the_documents_dataclasses_declare_is_on_ours_with_its_type(sandbox):
    ours = _ours(sandbox)
    declarations = [block for block in document_blocks() if block.declares_a_dataclass]
    checked = []

    for block in declarations:
        namespace = dict(DECLARATION_NAMES)
        exec(block.source, namespace)  # noqa: S102 - the document's own declaration
        [name] = [name for name in ours if name in namespace]
        assert name == block.heading
        hints = typing.get_type_hints(namespace[name], localns=namespace)
        for field in dataclasses.fields(namespace[name]):
            value = getattr(ours[name], field.name)
            expected = REAL_API_TYPES.get((name, field.name), hints[field.name])
            assert _conforms(value, expected), f"{name}.{field.name} = {value!r}"
            checked.append(f"{name}.{field.name}")

    assert len(checked) == 8 + 6 + 9 + 6
