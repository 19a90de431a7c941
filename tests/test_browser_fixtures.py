"""The browser tests' own rules: where no Chromium is found, CI fails and a laptop skips."""

import pytest

from tests.fixtures.browser import INSTALL_HINT, _missing_browser


def test_a_missing_browser_fails_the_run_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _missing_browser(INSTALL_HINT)


def test_a_missing_browser_skips_with_the_install_hint_elsewhere(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium"):
        _missing_browser(INSTALL_HINT)
