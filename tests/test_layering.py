"""DESIGN.md's layers, checked: only the Venice client (with the sandbox's requests adapter)
and the alert webhooks' transport talk HTTP through `requests`."""

import ast
from pathlib import Path

ACCOUNTS = Path(__file__).resolve().parents[1] / "accounts"
# The one place each: Venice's client, the sandbox's transport for it, the webhooks' POST.
MAY_IMPORT_REQUESTS = {"venice", "sandbox", "delivery"}


def _imports_requests(path: Path) -> bool:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(
            alias.name.split(".")[0] == "requests" for alias in node.names
        ):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "requests":
            return True
    return False


def test_only_the_venice_client_the_sandbox_and_the_webhook_transport_import_requests():
    offenders = [
        str(path.relative_to(ACCOUNTS))
        for path in ACCOUNTS.rglob("*.py")
        if path.relative_to(ACCOUNTS).parts[0] not in MAY_IMPORT_REQUESTS
        and _imports_requests(path)
    ]
    assert offenders == []
