import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deploy_check():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY="k" * 20 + "a-long-random-production-secret-for-the-check",
        DJANGO_ALLOWED_HOSTS="portal.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY="")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_a_malformed_boolean_setting_is_named_in_the_error():
    result = _manage("check", DJANGO_DEBUG="maybe")
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be" in result.stderr


def _venice_key_as_loaded(value: str):
    return _manage(
        "shell",
        "-c",
        "from django.conf import settings; print(repr(settings.VENICE_API_KEY[-3:]))",
        VENICE_API_KEY=value,
    )


def test_an_admin_key_with_a_trailing_newline_is_read_without_it():
    result = _venice_key_as_loaded("sk-from-a-file-abc\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "'abc'"


def test_an_admin_key_with_whitespace_inside_stops_the_portal_without_showing_it():
    result = _venice_key_as_loaded("sk-from-a-file\nabc-secret-part")
    assert result.returncode != 0
    assert "VENICE_API_KEY contains whitespace or control characters" in result.stderr
    assert "secret-part" not in result.stderr + result.stdout


def test_a_role_that_does_not_exist_in_require_mfa_is_a_check_error():
    result = _manage("check", PORTAL_REQUIRE_MFA="Administrator,Janitor")
    assert result.returncode != 0
    assert "PORTAL_REQUIRE_MFA names roles that do not exist: Janitor" in result.stderr


def test_a_role_map_entry_that_is_not_group_and_role_is_a_check_error():
    result = _manage("check", PORTAL_OIDC_ROLE_MAP="venice-admins:Boss")
    assert result.returncode != 0
    assert "PORTAL_OIDC_ROLE_MAP: 'venice-admins:Boss'" in result.stderr
