"""The key list's rows as the table writes them (views/keys.py, templates/keys/list.html).

At 500 keys (Venice's maximum) the page is mostly this: 500 rows of ten cells. Everything a
cell needs is worked out here once per row, so that the template only writes it.
"""

from __future__ import annotations

import html
from datetime import datetime

from django.utils import timezone
from django.utils.safestring import SafeString

from accounts.presentation.links import url_maker
from accounts.presentation.names import limit_period_phrase
from accounts.selectors.keys import KeyListing
from accounts.templatetags.portal_format import limits_text, usage_text


def key_table_rows(listing: KeyListing) -> list[dict]:
    """The table's cells, worked out once per row here rather than in the template.

    At 500 keys (Venice's maximum) the template spent most of the page's time on per-row work:
    a `{% url %}` (a full reverse()) per row, filters, and nested lookups such as
    `row.key.description`, each of which first tries `row["key"]` and catches the error
    (bench/keys.py measures it). Flat dicts make every lookup a single dict access. Then the
    escaping itself: Django's escape, made to accept lazy strings, cost a fifth of the page
    at 500 rows, and so did seven badge `{% if %}`s a row. So every text a row shows is
    escaped here, once, by `_html` (the template then writes it as it is), and its badges are
    one string."""
    detail_url = url_maker("keys:detail")
    team_url = url_maker("teams:detail")
    zone = timezone.get_current_timezone()
    rows = []
    for row in listing.rows:
        key, ownership = row.key, row.ownership
        team = ownership.team if ownership and ownership.team else None
        owner = ownership.owner_label if ownership else ""
        description, last6 = _html(key.description), _html(key.last6)
        rows.append(
            {
                **vars(row.flags),  # admin, expired, expiring_soon, unused, unlimited, ...
                "id": _html(key.id),
                "url": detail_url(key.id),
                "description": description,
                "last6": last6,
                "pick_label": SafeString(f"Select “{description}” …{last6}"),
                "badges": _badges(row.flags),
                "created": _html(_day(key.created_at, zone) or "—"),
                "last_used": _html(_day(key.last_used_at, zone) or "never"),
                "expires": _html(_day(key.expires_at, zone) or "never"),
                "limits": _html(limits_text(key.consumption_limits)),
                "period": _html(limit_period_phrase(key.limit_period)),
                "usage": _html(usage_text(key.current_period_usage) or "—"),
                "team_cell": _html(team.name) if team else "",
                "team_url": team_url(team.slug) if team else "",
                "owner_cell": _html(owner or "—"),
                # Raw, for the group headings (_grouped), which the template escapes.
                "team": team.name if team else "",
                "owner": owner,
            }
        )
    return rows


def _html(text: str) -> SafeString:
    """Text escaped for HTML (what the template's autoescape does, without its cost)."""
    return SafeString(html.escape(str(text)))


# The badges a row's flags raise, in the order the Description cell shows them; of each
# group of alternatives, the first that holds.
_BADGES = (
    (("secret_lost", "danger", "secret lost"),),
    (("retiring", "info", "being rotated out"), ("replacement", "info", "new, from a rotation")),
    (("expired", "danger", "expired"), ("expiring_soon", "warn", "expires soon")),
    (("rotation_overdue", "warn", "rotation overdue"),),
    (("unused", "info", "unused 30+ days"),),
    (("unlimited", "warn", "no limit"),),
)


def _badges(flags) -> SafeString:
    shown = []
    for alternatives in _BADGES:
        for flag, kind, text in alternatives:
            if getattr(flags, flag):
                shown.append(f' <span class="badge badge--{kind}">{text}</span>')
                break
    return SafeString("".join(shown))


def _day(value: datetime | None, zone) -> str:
    """The day in the viewer's time zone (`zone`, looked up once per page: 1,500 dates at
    500 keys), as every table writes dates."""
    return value.astimezone(zone).date().isoformat() if value is not None else ""
