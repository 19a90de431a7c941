"""manage.py venice_sandbox (serve or --reset) and the sandbox part of seed_demo."""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

import accounts.sandbox
from accounts.sandbox import AdminKeyUnknown, Sandbox, get_sandbox

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_reset_alone_restores_the_seeded_account_in_the_state_file(tmp_path, settings):
    path = tmp_path / "sandbox.json"
    settings.VENICE_SANDBOX_STATE_FILE = str(path)
    run("venice_sandbox", "--reset", "--seed", "11")
    changed = Sandbox.load(path)
    victim = changed.key_ids()[1]
    changed.handle(
        "DELETE",
        "/api_keys",
        {"id": [victim]},
        {"Authorization": f"Bearer {changed.admin_key}"},
        b"",
    )
    assert victim not in Sandbox.load(path).key_ids()

    output = run("venice_sandbox", "--reset", "--seed", "11")

    assert "reset from seed 11" in output
    assert victim in Sandbox.load(path).key_ids()
    assert "admin key:" not in output  # nothing served, nothing printed


def test_reset_takes_an_admin_key_and_keeps_only_its_hash(tmp_path, settings):
    path = tmp_path / "sandbox.json"
    settings.VENICE_SANDBOX_STATE_FILE = str(path)

    run("venice_sandbox", "--reset", "--admin-key", "VENICE-ADMIN-KEY-chosen-by-me")

    assert "chosen-by-me" not in path.read_text()
    restarted = Sandbox.load(path)
    portal_key = restarted.find_key("VENICE-ADMIN-KEY-chosen-by-me")
    assert portal_key is not None and portal_key.api_key_type == "ADMIN"
    assert restarted.admin_key_given and restarted.admin_key_last6 == "-by-me"
    with pytest.raises(AdminKeyUnknown, match="--admin-key again"):
        restarted.admin_key  # noqa: B018 - the property is what is tested


def test_the_command_needs_a_port_or_reset():
    with pytest.raises(CommandError, match="--port"):
        run("venice_sandbox")


def test_the_command_serves_http_and_prints_the_demo_keys_but_not_a_given_one(tmp_path):
    env = {
        **os.environ,
        "VENICE_SANDBOX_STATE_FILE": str(tmp_path / "served.json"),
        "VENICE_API_KEY": "",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "venice_sandbox", "--port", "0", "--admin-key", "demo-admin"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[0] == "admin key (given with --admin-key, not echoed): ends in -admin\n"
        assert lines[1].startswith("inference key: VENICE-INFERENCE-KEY-")
        base = lines[2].split()[3]
        assert base.startswith("http://127.0.0.1:") and base.endswith("/api/v1")

        response = requests.get(
            f"{base}/api_keys", headers={"Authorization": "Bearer demo-admin"}, timeout=10
        )

        assert response.status_code == 200
        assert len(response.json()["data"]) >= 10
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


@pytest.mark.django_db
def test_seed_demo_creates_the_sandbox_state_file(tmp_path, settings, monkeypatch):
    path = tmp_path / "var" / "sandbox.json"
    settings.VENICE_SANDBOX_STATE_FILE = str(path)
    settings.VENICE_SANDBOX = True
    monkeypatch.setattr(accounts.sandbox, "_instance", None)

    output = run("seed_demo")

    assert path.is_file()
    assert json.loads(path.read_text())["seed"] == settings.VENICE_SANDBOX_SEED
    assert f"kept in {path}" in output
    assert get_sandbox().state_file == str(path)


@pytest.mark.django_db
def test_seed_demo_keeps_an_existing_sandbox_account(tmp_path, settings, monkeypatch):
    path = tmp_path / "sandbox.json"
    settings.VENICE_SANDBOX_STATE_FILE = str(path)
    settings.VENICE_SANDBOX = True
    existing = accounts.sandbox.reset_sandbox(seed=77, state_file=str(path))
    monkeypatch.setattr(accounts.sandbox, "_instance", None)

    run("seed_demo")

    assert get_sandbox().seed == 77
    assert get_sandbox().admin_key == existing.admin_key
