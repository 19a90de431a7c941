"""A failing browser test leaves what the browser showed: a screenshot and the HTML."""

import pytest
from django.urls import reverse

from tests.fixtures.browser import save_page_artifacts

pytestmark = pytest.mark.browser


def test_a_failure_leaves_a_screenshot_and_the_page_html(page, tmp_path):
    page.goto(reverse("account_login"))

    saved = save_page_artifacts(
        page, "tests/browser/test_x.py::test_y[Key manager]", directory=tmp_path
    )

    assert [path.name for path in saved] == [
        "tests_browser_test_x.py_test_y_Key_manager.png",
        "tests_browser_test_x.py_test_y_Key_manager.html",
    ]
    assert saved[0].read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    html = saved[1].read_text()
    assert 'name="login"' in html
    assert "<title>Log in" in html
