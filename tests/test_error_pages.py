import pytest
from django.template.loader import render_to_string


@pytest.mark.django_db
def test_unknown_address_gets_the_portal_404_page(client, admin_user, settings):
    settings.DEBUG = False
    client.force_login(admin_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"There is nothing at this address" in response.content
    assert b"Log out" in response.content


def test_500_page_renders_without_a_request_context():
    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html


def test_a_request_that_loses_the_database_gets_the_500_page_with_its_request_id():
    """A real unreachable PostgreSQL (nothing listens on port 9), in a separate process: the
    session lookup fails, and the person sees the portal's 500 page naming the request."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import django, json; django.setup();"
        "from django.conf import settings; settings.DEBUG = False;"
        "from django.test import Client;"
        "c = Client(raise_request_exception=False);"
        "c.cookies['sessionid'] = 'a-session-the-database-should-know';"
        "r = c.get('/keys/', HTTP_X_REQUEST_ID='lost-db-4f1d2a');"
        "print(json.dumps({'status': r.status_code, 'id': r['X-Request-ID'],"
        " 'body': r.content.decode()}))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none?connect_timeout=2",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 500
    assert outcome["id"] == "lost-db-4f1d2a"
    assert "Something went wrong on our side" in outcome["body"]
    assert "<code>lost-db-4f1d2a</code>" in outcome["body"]
