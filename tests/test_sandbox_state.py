"""The sandbox's state file: saved atomically after each change, loaded on the next start."""

import json
from datetime import UTC, datetime

import pytest

import accounts.sandbox
from accounts.sandbox import AdminKeyUnknown, Sandbox, get_sandbox, reset_sandbox
from accounts.sandbox.digest import secret_digest
from accounts.venice import APIKeyType, get_client

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
pytestmark = pytest.mark.sandbox_at(NOW)


def _call(sandbox, method, path, *, query=None, body=None):
    return sandbox.handle(
        method,
        path,
        query or {},
        {"Authorization": f"Bearer {sandbox.admin_key}", "Content-Type": "application/json"},
        json.dumps(body).encode() if body is not None else b"",
    )


def test_seeding_is_deterministic_for_a_seed_and_differs_between_seeds():
    one, same, other = Sandbox(seed=7, now=NOW), Sandbox(seed=7, now=NOW), Sandbox(seed=8, now=NOW)

    assert one.admin_key == same.admin_key != other.admin_key
    assert one.key_ids() == same.key_ids()
    assert one.ledger.entries == same.ledger.entries
    assert one.ledger_entries()[:100] == same.ledger_entries()[:100]
    assert one.ledger.entries != other.ledger.entries


def test_a_change_is_saved_and_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.json"
    sandbox = reset_sandbox(seed=3, state_file=str(path), now=NOW)
    created = _call(
        sandbox, "POST", "/api_keys", body={"apiKeyType": "INFERENCE", "description": "Kept"}
    ).json()["data"]
    deleted = sandbox.key_ids()[2]
    _call(sandbox, "DELETE", "/api_keys", query={"id": [deleted]})
    sandbox.use_key(created["apiKey"], usd=1.25)

    restarted = Sandbox.load(path)
    restarted.clock.set(NOW)

    assert restarted.find_key(created["id"]).description == "Kept"
    assert restarted.find_key(created["apiKey"]).id == created["id"]
    assert restarted.find_key(deleted) is None
    assert restarted.admin_key == sandbox.admin_key
    assert restarted.ledger_entries() == sandbox.ledger_entries()
    assert (
        _call(restarted, "GET", "/billing/balance").json()
        == _call(sandbox, "GET", "/billing/balance").json()
    )


def test_a_cursor_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.json"
    sandbox = reset_sandbox(seed=3, state_file=str(path), now=NOW)
    cursor = _call(sandbox, "GET", "/billing/usage-history", query={"pageSize": ["10"]}).json()[
        "nextCursor"
    ]

    restarted = Sandbox.load(path)
    restarted.clock.set(NOW)

    response = _call(restarted, "GET", "/billing/usage-history", query={"cursor": [cursor]})
    assert response.status == 200


def test_saving_leaves_no_temporary_files(tmp_path):
    sandbox = reset_sandbox(seed=3, state_file=str(tmp_path / "sandbox.json"), now=NOW)
    sandbox.use_key(sandbox.inference_key)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox.json", "sandbox.json.lock"]


def test_get_sandbox_loads_an_existing_state_file(tmp_path, settings, monkeypatch):
    path = tmp_path / "sandbox.json"
    saved = reset_sandbox(seed=5, state_file=str(path), now=NOW)
    saved.use_key(saved.inference_key, diem=0.5)
    settings.VENICE_SANDBOX_STATE_FILE = str(path)
    monkeypatch.setattr(accounts.sandbox, "_instance", None)

    loaded = get_sandbox()

    assert loaded is not saved
    assert loaded.seed == 5
    assert loaded.admin_key == saved.admin_key
    assert len(loaded.ledger) == len(saved.ledger)


def test_get_sandbox_seeds_and_saves_when_the_file_is_missing(tmp_path, settings, monkeypatch):
    path = tmp_path / "var" / "sandbox.json"
    settings.VENICE_SANDBOX_STATE_FILE = str(path)
    settings.VENICE_SANDBOX_SEED = 9
    monkeypatch.setattr(accounts.sandbox, "_instance", None)

    sandbox = get_sandbox()

    assert path.is_file()
    assert sandbox.seed == 9
    assert get_sandbox() is sandbox


def test_an_in_memory_sandbox_writes_nothing(tmp_path, settings):
    settings.VENICE_SANDBOX_STATE_FILE = str(tmp_path / "never.json")

    sandbox = reset_sandbox(state_file="")
    sandbox.use_key(sandbox.inference_key)

    assert list(tmp_path.iterdir()) == []


def test_add_usage_entries_builds_a_large_ledger(sandbox):
    before = len(sandbox.ledger)

    added = sandbox.add_usage_entries(50_000)

    assert added == 50_000
    assert len(sandbox.ledger) == before + 50_000
    stamps = [entry[0] for entry in sandbox.ledger.entries]
    assert stamps == sorted(stamps)


def test_two_processes_sharing_a_state_file_see_each_others_changes(tmp_path):
    # Two Sandbox objects on one file stand for two processes (runserver and venice_sandbox,
    # or two gunicorn workers): each reloads what the other saved before it answers.
    path = tmp_path / "sandbox.json"
    reset_sandbox(seed=3, state_file=str(path), now=NOW)
    first, second = Sandbox.load(path), Sandbox.load(path)
    for worker in (first, second):
        worker.clock.set(NOW)

    made_by_first = _call(
        first, "POST", "/api_keys", body={"apiKeyType": "INFERENCE", "description": "one"}
    ).json()["data"]["id"]
    made_by_second = _call(
        second, "POST", "/api_keys", body={"apiKeyType": "INFERENCE", "description": "two"}
    ).json()["data"]["id"]

    listed = {key["id"] for key in _call(first, "GET", "/api_keys").json()["data"]}
    assert {made_by_first, made_by_second} <= listed
    assert second.find_key(made_by_first) is not None
    assert made_by_first in Sandbox.load(path).key_ids()


def _authenticates(sandbox, secret: str) -> bool:
    """Whether Venice lets this secret in (any valid key may read its rate limits)."""
    response = sandbox.handle(
        "GET", "/api_keys/rate_limits", {}, {"Authorization": f"Bearer {secret}"}, b""
    )
    return response.status == 200


def test_the_state_file_keeps_hashes_not_secrets(tmp_path):
    path = tmp_path / "sandbox.json"
    sandbox = reset_sandbox(seed=3, state_file=str(path), now=NOW)
    client = get_client()
    created = [
        client.api_keys.create("Worker", api_key_type=APIKeyType.INFERENCE),
        client.api_keys.create("Ops", api_key_type=APIKeyType.ADMIN),
    ]

    saved = path.read_text()
    for secret in (*(key.secret for key in created), sandbox.admin_key, sandbox.inference_key):
        assert secret and secret not in saved
        assert secret_digest(secret) in saved  # what is kept instead
    restarted = Sandbox.load(path)
    restarted.clock.set(NOW)
    for key in created:
        record = restarted.find_key(key.secret)
        assert record.id == key.id and record.last6 == key.last6 == key.secret[-6:]
        assert _authenticates(restarted, key.secret)
    assert restarted.admin_key == sandbox.admin_key  # the demo secrets follow from the seed
    assert restarted.inference_key == sandbox.inference_key
    assert _authenticates(restarted, restarted.inference_key)


def test_an_admin_key_given_on_the_command_line_survives_a_restart_as_a_hash(tmp_path):
    path = tmp_path / "sandbox.json"
    given = "VENICE-ADMIN-KEY-the-operators-own-key-x1y2z3"
    reset_sandbox(seed=3, state_file=str(path), now=NOW, admin_key=given)
    Sandbox.load(path).replace_admin_secret(given)  # `venice_sandbox --admin-key` again

    assert given not in path.read_text()
    restarted = Sandbox.load(path)
    restarted.clock.set(NOW)
    assert _authenticates(restarted, given)  # the portal configured with it still gets in
    assert restarted.admin_key_last6 == "x1y2z3"
    with pytest.raises(AdminKeyUnknown):
        restarted.admin_key  # noqa: B018 - the property is what is tested

    restarted.replace_admin_secret(given)

    assert restarted.admin_key == given
    assert given not in path.read_text()


def _version_1_state(sandbox, *, admin_key: str, created: dict) -> dict:
    """The state file as the sandbox wrote it before secrets were hashed."""
    state = sandbox.to_state()
    plain = {
        created["id"]: created["apiKey"],
        sandbox.find_key(sandbox.inference_key).id: sandbox.inference_key,
        sandbox.find_key(sandbox.admin_key).id: admin_key,
    }
    keys = []
    for item in state["keys"]:
        item = {k: v for k, v in item.items() if k not in ("secret_sha256", "last6")}
        keys.append({**item, "secret": plain.get(item["id"], f"VENICE-OLD-KEY-{item['id']}")})
    del state["admin_key_given"]
    return {
        **state,
        "version": 1,
        "keys": keys,
        "admin_key": admin_key,
        "inference_key": sandbox.inference_key,
    }


@pytest.mark.parametrize("given", [False, True], ids=["seeded admin key", "--admin-key"])
def test_a_version_1_state_file_is_migrated_on_load(tmp_path, given):
    path = tmp_path / "sandbox.json"
    sandbox = Sandbox(seed=3, now=NOW)
    created = _call(
        sandbox, "POST", "/api_keys", body={"apiKeyType": "INFERENCE", "description": "Old"}
    ).json()["data"]
    admin_key = "VENICE-ADMIN-KEY-given-before-the-upgrade" if given else sandbox.admin_key
    old = _version_1_state(sandbox, admin_key=admin_key, created=created)
    path.write_text(json.dumps(old))

    loaded = Sandbox.load(path)
    loaded.clock.set(NOW)

    rewritten = json.loads(path.read_text())
    assert rewritten["version"] == 2
    for secret in (created["apiKey"], admin_key, sandbox.inference_key):
        assert secret not in path.read_text()
        assert _authenticates(loaded, secret)
    assert loaded.find_key(created["apiKey"]).last6 == created["apiKey"][-6:]
    assert loaded.key_ids() == sandbox.key_ids()
    assert loaded.admin_key_given is given
    if given:
        with pytest.raises(AdminKeyUnknown):
            loaded.admin_key  # noqa: B018 - the property is what is tested
    else:
        assert loaded.admin_key == sandbox.admin_key


def test_a_state_file_of_an_unknown_version_is_refused_with_the_reset_command(tmp_path):
    path = tmp_path / "sandbox.json"
    state = Sandbox(seed=3, now=NOW).to_state()
    path.write_text(json.dumps({**state, "version": 99}))

    with pytest.raises(ValueError, match="make sandbox-reset"):
        Sandbox.load(path)
