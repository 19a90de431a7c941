"""Links for tables of many rows: one reverse() a page, not one a row.

A reverse() per row was a tenth of the audit page's time at 50 rows, and more of the key
list's at 500, so a table reverses its URL once with a placeholder and puts each row's value
in its place. The placeholder is digits, which every path converter accepts (str, slug, int).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.urls import reverse

# Values reverse() would put into the URL unchanged (Venice's ids are UUIDs; slugs and
# record ids qualify too).
_PLAIN = re.compile(r"[A-Za-z0-9._~-]+\Z")
_PLACEHOLDER = "987654321"


def url_maker(url_name: str) -> Callable[[object], str]:
    """value -> the URL `url_name` takes it in, for any number of values."""
    pattern = reverse(url_name, args=[_PLACEHOLDER])

    def url(value) -> str:
        text = str(value)
        if _PLAIN.match(text):
            return pattern.replace(_PLACEHOLDER, text)
        return reverse(url_name, args=[value])

    return url
