"""The sandbox's simulated inference: it takes a key as Venice does and charges it."""

from datetime import timedelta

import pytest

from accounts.venice import get_client

pytestmark = pytest.mark.django_db

CHAT = {"model": "llama-3.3-70b", "messages": [{"role": "user", "content": "Hello there"}]}


def _chat(sandbox_session, sandbox_url, secret, body=CHAT):
    return sandbox_session.post(
        sandbox_url("/chat/completions"), json=body, headers={"Authorization": f"Bearer {secret}"}
    )


def test_a_chat_completion_with_a_key_is_answered_and_charged_to_it(
    sandbox, sandbox_session, sandbox_url
):
    key = get_client().api_keys.create("Chatty app")
    before = len(sandbox.ledger_entries())
    sandbox.clock.set(sandbox.clock.now())  # frozen: "now" is one moment

    answer = _chat(sandbox_session, sandbox_url, key.secret)

    assert answer.status_code == 200
    body = answer.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["total_tokens"] > 0
    assert sandbox.find_key(key.id).last_used_ms == sandbox.clock.now_ms()
    assert len(sandbox.ledger_entries()) > before
    listed = get_client().api_keys.get(key.id, fresh=True)
    assert listed.last_used_at is not None


def test_a_deleted_or_expired_key_is_refused_as_venice_refuses_it(
    sandbox, sandbox_session, sandbox_url
):
    gone = get_client().api_keys.create("Gone")
    get_client().api_keys.delete(gone.id)
    soon = get_client().api_keys.create(
        "Soon", expires_at=sandbox.clock.now() + timedelta(minutes=5)
    )
    assert _chat(sandbox_session, sandbox_url, gone.secret).status_code == 401
    sandbox.clock.advance(timedelta(minutes=6))
    assert _chat(sandbox_session, sandbox_url, soon.secret).status_code == 401


def test_the_admin_key_works_and_a_non_text_model_is_a_400(sandbox, sandbox_session, sandbox_url):
    assert _chat(sandbox_session, sandbox_url, sandbox.admin_key).status_code == 200
    wrong = _chat(
        sandbox_session,
        sandbox_url,
        sandbox.admin_key,
        {"model": "no-such-model", "messages": []},
    )
    assert wrong.status_code == 400 and "not a text model" in wrong.json()["error"]


def test_the_traffic_command_follows_the_secret_in_its_file(sandbox, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    old = get_client().api_keys.create("App key")
    key_file = tmp_path / "app.key"
    key_file.write_text(old.secret + "\n")
    out = StringIO()
    call_command("sandbox_traffic", str(key_file), "--count", "2", "--rps", "1000", stdout=out)
    assert "2 of 2 requests answered." in out.getvalue()
    assert f"…{old.secret[-6:]}: 200" in out.getvalue()
    assert old.secret not in out.getvalue()
    assert sandbox.find_key(old.id).last_used_ms is not None
