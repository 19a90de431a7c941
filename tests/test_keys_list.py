"""/keys/: every key, filtered, searched and sorted on the server, flags at a glance."""

import re
from html import escape, unescape
from urllib.parse import parse_qs

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.venice import get_client
from tests.factories import AuditEventFactory

pytestmark = pytest.mark.django_db

SEEDED = 13


def _descriptions(response) -> list[str]:
    """The keys listed, in order."""
    body = response.content.decode().split("<tbody>", 1)[-1]
    return re.findall(
        r'<td data-label="Description">(?:<input [^>]*> )?<a href="/keys/[^/]+/">([^<]+)</a>', body
    )


def _row(response, description) -> str:
    for row in response.content.decode().split("<tr>"):
        if f">{description}</a>" in row:
            return row
    raise AssertionError(f"{description} not listed")


def test_every_key_is_listed_with_its_columns(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    response = client.get("/keys/")

    assert response.status_code == 200
    assert len(_descriptions(response)) == SEEDED
    assert f"{SEEDED} of {SEEDED} keys" in response.content.decode()
    row = _row(response, "Production backend")
    last6 = sandbox.find_key(inference_key_id).last6
    assert f"…{last6}" in row
    assert "$500.00" in row and "per month" in row
    assert 'data-label="Period usage"' in row and " DIEM" in row


def test_the_list_is_in_the_navigation(client, finance_user):
    client.force_login(finance_user)
    page = client.get("/").content.decode()
    assert '<a href="/keys/">API keys</a>' in page


def test_htmx_request_gets_only_the_rows(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/", {"type": "ADMIN"}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "<html" not in page
    assert "<table" in page
    assert 'name="q"' not in page  # the filter form stays on the page, not in the fragment
    assert _descriptions(response) == ["Billing automation", "Portal admin"]
    assert "HX-Request" in response["Vary"]


def test_filters_work_without_javascript(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/", {"type": "ADMIN"})
    assert "<html" in response.content.decode()
    assert _descriptions(response) == ["Billing automation", "Portal admin"]
    assert b'<option value="ADMIN" selected>' in response.content


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (
            "expiring",
            {
                "Temporary demo key",
                "Contractor - Acme Analytics",
                "Data pipeline (nightly)",
                "Research notebook",
            },
        ),
        ("unused", {"Old prototype", "Hackathon 2025", "Research notebook"}),
        ("unlimited", {"Portal admin", "Mobile app", "Billing automation"}),
        ("expired", set()),
    ],
)
def test_status_filters(client, admin_user, status, expected):
    client.force_login(admin_user)
    response = client.get("/keys/", {"status": status})
    assert set(_descriptions(response)) == expected


def test_type_and_status_combine(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/", {"type": "ADMIN", "status": "expiring"})
    assert _descriptions(response) == []
    assert b"No keys match these filters" in response.content


def test_search_matches_description_case_insensitively(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/", {"q": "PIPE"})
    assert _descriptions(response) == ["Data pipeline (nightly)"]
    assert f"1 of {SEEDED} keys match the filters" in response.content.decode()


def test_search_matches_the_last_six_characters(client, admin_user, sandbox, inference_key_id):
    client.force_login(admin_user)
    last6 = sandbox.find_key(inference_key_id).last6
    assert "Production backend" in _descriptions(client.get("/keys/", {"q": last6}))


def test_sorting(client, admin_user):
    client.force_login(admin_user)
    by_expiry = _descriptions(client.get("/keys/", {"sort": "expires"}))
    assert by_expiry[:5] == [
        "Temporary demo key",
        "Contractor - Acme Analytics",
        "Data pipeline (nightly)",
        "Research notebook",
        "Billing automation",
    ]
    least_used = _descriptions(client.get("/keys/", {"sort": "last_used"}))
    assert least_used[:3] == ["Hackathon 2025", "Old prototype", "Research notebook"]
    newest = _descriptions(client.get("/keys/", {"sort": "-created"}))
    assert newest[:2] == ["Temporary demo key", "Contractor - Acme Analytics"]
    assert _descriptions(client.get("/keys/")) == newest  # newest first by default
    oldest = _descriptions(client.get("/keys/", {"sort": "created"}))
    assert oldest == list(reversed(newest))


def test_column_headers_sort_and_say_how(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/keys/", {"sort": "expires", "type": "INFERENCE"}).content.decode()
    header = re.search(r'<th scope="col" aria-sort="(\w+)"><a href="\?([^"]+)">Expires', page)
    assert header.group(1) == "ascending"
    # The link flips the direction and keeps the other filters.
    assert parse_qs(unescape(header.group(2))) == {"sort": ["-expires"], "type": ["INFERENCE"]}
    other = re.search(r'<th scope="col"><a href="\?([^"]+)">Created', page)
    assert parse_qs(unescape(other.group(1)))["sort"] == ["-created"]


def test_unknown_filter_values_fall_back_to_everything(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/", {"status": "bogus", "sort": "sideways", "type": "ROOT"})
    assert response.status_code == 200
    assert len(_descriptions(response)) == SEEDED


def test_flags_are_badges(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/keys/")
    assert "expires soon" in _row(response, "Temporary demo key")
    assert "unused 30+ days" in _row(response, "Old prototype")
    assert "no limit" in _row(response, "Mobile app")
    assert "badge--admin" in _row(response, "Portal admin")
    assert "badge--admin" not in _row(response, "Mobile app")


def test_finance_sees_keys_read_only(client, finance_user):
    client.force_login(finance_user)
    page = client.get("/keys/").content.decode()
    assert len(_descriptions(client.get("/keys/"))) == SEEDED
    assert 'href="/keys/new/"' not in page


def test_key_managers_get_the_new_key_button(client, key_manager):
    client.force_login(key_manager)
    assert b'href="/keys/new/"' in client.get("/keys/").content


def test_venice_failing_shows_the_reason_in_place(client, admin_user, sandbox):
    sandbox.faults.inject("/api_keys", "GET", status=401, times=1)
    client.force_login(admin_user)
    response = client.get("/keys/")
    assert response.status_code == 200
    assert b"The keys could not be loaded." in response.content
    assert b"Check that VENICE_API_KEY holds a valid Venice ADMIN key." in response.content


def test_one_upstream_call_and_a_constant_number_of_queries_however_many_keys(
    client, admin_user, sandbox
):
    client.force_login(admin_user)
    client.get("/keys/")  # warm the session and permission caches

    def render():
        sandbox.received.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/keys/")
        lists = [r for r in sandbox.received if r.method == "GET" and r.path == "/api_keys"]
        return len(_descriptions(response)), len(queries), len(lists)

    keys_before, queries_before, calls_before = render()
    for number in range(5):
        get_client().api_keys.create(f"Extra {number}")
    keys_after, queries_after, calls_after = render()

    assert keys_after == keys_before + 5
    assert queries_after == queries_before
    # One list call at most (the warm-up's answer may still be cached), never one per row.
    assert calls_before <= 1 and calls_after == 1


def test_keys_with_a_lost_secret_are_flagged_in_the_list(client, admin_user, inference_key_id):
    AuditEventFactory(key_id=inference_key_id, action="key.created", details={"secret_lost": True})
    client.force_login(admin_user)
    assert "secret lost" in _row(client.get("/keys/"), "Production backend")


def test_both_keys_of_a_rotation_in_grace_say_which_is_which(
    client, admin_user, manager_context, inference_key
):
    from accounts.services.rotation import rotation_start

    rotation = rotation_start(
        context=manager_context, key_id=inference_key.id, grace="24h"
    ).rotation
    client.force_login(admin_user)
    rows = [
        row
        for row in client.get("/keys/").content.decode().split("<tr>")
        if ">Billing worker</a>" in row
    ]
    (old_row,) = [row for row in rows if f"…{rotation.old_last6}" in row]
    (new_row,) = [row for row in rows if f"…{rotation.new_last6}" in row]
    assert "being rotated out" in old_row and "from a rotation" not in old_row
    assert "new, from a rotation" in new_row and "rotated out" not in new_row


def test_what_people_typed_is_escaped_in_every_cell(
    client, admin_user, shared_venice, admin_context, assign
):
    """Descriptions, team names and owner contacts are typed by people: the rows write them as
    text, in the link, the checkbox's label and the team and owner cells alike."""
    from accounts.services.teams import team_create

    typed = '<b onclick="x()">Bob & Co\'s</b>'
    key = shared_venice.api_keys.create(typed)
    team = team_create(context=admin_context, name="R&D <lab>", slug="rd-lab")
    assign(key, team, contact='<i>"oncall"</i>')
    client.force_login(admin_user)
    response = client.get("/keys/")
    page = response.content.decode()

    assert "<b onclick" not in page and "<i>" not in page and "R&D <lab>" not in page
    row = _row(response, escape(typed))
    assert f'aria-label="Select “{escape(typed)}” …{key.last6}"' in row
    assert f'<a href="/teams/rd-lab/">{escape("R&D <lab>")}</a>' in row
    assert escape('<i>"oncall"</i>') in row
