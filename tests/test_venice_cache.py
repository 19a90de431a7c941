"""The GET cache: a repeated read makes no request, every mutation drops the account's
entries (for every worker), and neither the key nor a secret is ever in the cache."""

import hashlib
import time

import pytest
from django.core.cache import cache

from accounts.venice import InvalidResponseError


def requests_to(sandbox, path, method="GET"):
    return sum(1 for r in sandbox.received if (r.method, r.path) == (method, path))


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda client: client.api_keys.list(), "/api_keys"),
        (lambda client: client.api_keys.get_rate_limits(), "/api_keys/rate_limits"),
        (lambda client: client.api_keys.get_rate_limits_log(), "/api_keys/rate_limits/log"),
        (lambda client: client.billing.get_balance(), "/billing/balance"),
        (lambda client: client.billing.get_usage_analytics("30d"), "/billing/usage-analytics"),
    ],
)
def test_a_second_read_is_answered_from_the_cache(venice, sandbox, call, path):
    first = call(venice)
    second = call(venice)

    assert second == first
    assert requests_to(sandbox, path) == 1


def test_a_key_detail_is_cached_per_id(venice, sandbox):
    key_id = venice.api_keys.list()[0].id
    venice.api_keys.get(key_id)
    venice.api_keys.get(key_id)

    assert requests_to(sandbox, f"/api_keys/{key_id}") == 1


def test_different_queries_are_different_entries(venice, sandbox):
    venice.billing.get_usage_analytics("7d")
    venice.billing.get_usage_analytics("30d")

    assert requests_to(sandbox, "/billing/usage-analytics") == 2


@pytest.mark.parametrize(
    "mutate",
    [
        lambda client, key: client.api_keys.create("New"),
        lambda client, key: client.api_keys.update(key.id, description="Renamed"),
        lambda client, key: client.api_keys.delete(key.id),
    ],
)
def test_every_mutation_drops_the_cached_reads(venice, sandbox, mutate):
    key = venice.api_keys.create("Target")
    before = venice.api_keys.list()
    venice.api_keys.get(key.id)

    mutate(venice, key)
    after = venice.api_keys.list()

    assert after != before
    assert requests_to(sandbox, "/api_keys") == 2
    venice.api_keys.get(key.id)
    assert requests_to(sandbox, f"/api_keys/{key.id}") == 2


def test_a_mutation_by_one_worker_drops_the_entries_of_every_worker(make_venice, sandbox):
    one, other = make_venice(), make_venice()
    one.api_keys.list()
    other.api_keys.create("Made elsewhere")

    assert any(key.description == "Made elsewhere" for key in one.api_keys.list())
    assert requests_to(sandbox, "/api_keys") == 2


def test_a_failed_mutation_still_drops_the_entries(venice, sandbox):
    venice.api_keys.list()
    sandbox.faults.inject("/api_keys", "POST", timeout="after", times=1)
    with pytest.raises(Exception):  # noqa: B017 - which error is another test's business
        venice.api_keys.create("Ambiguous")

    assert any(key.description == "Ambiguous" for key in venice.api_keys.list())


def test_each_key_has_its_own_entries(make_venice, sandbox):
    admin = make_venice(sandbox=sandbox)
    inference = make_venice(sandbox=sandbox, api_key=sandbox.inference_key)
    admin.api_keys.get_rate_limits()
    inference.api_keys.get_rate_limits()

    assert requests_to(sandbox, "/api_keys/rate_limits") == 2


def test_usage_history_is_never_cached(venice, sandbox):
    venice.billing.get_usage_history_page(page_size=10)
    venice.billing.get_usage_history_page(page_size=10)

    assert requests_to(sandbox, "/billing/usage-history") == 2


def test_errors_and_malformed_answers_are_not_cached(venice, sandbox):
    sandbox.faults.inject("/billing/balance", malformed=True, times=1)
    with pytest.raises(InvalidResponseError):
        venice.billing.get_balance()

    assert venice.billing.get_balance().diem_epoch_allocation > 0
    assert requests_to(sandbox, "/billing/balance") == 2


def test_a_ttl_of_zero_turns_the_cache_off(make_venice, sandbox):
    client = make_venice(cache_ttl=0)
    client.api_keys.list()
    client.api_keys.list()

    assert requests_to(sandbox, "/api_keys") == 2


def test_entries_expire_after_the_ttl(make_venice, sandbox):
    client = make_venice(cache_ttl=0.05)
    client.billing.get_balance()
    time.sleep(0.1)  # the Django cache keeps real time
    client.billing.get_balance()

    assert requests_to(sandbox, "/billing/balance") == 2


def test_the_ttl_comes_from_settings(settings, make_venice, sandbox):
    settings.VENICE_CACHE_TTL = 0

    client = make_venice()
    client.billing.get_balance()
    client.billing.get_balance()
    assert requests_to(sandbox, "/billing/balance") == 2


def test_neither_the_key_nor_a_new_secret_is_ever_in_the_cache(venice, sandbox):
    created = venice.api_keys.create("Secret holder")
    venice.api_keys.list()
    venice.api_keys.get(created.id)
    venice.account.get_account_summary()

    entries = dict(cache._cache)  # the local-memory backend's store: {key: pickled value}
    assert entries
    keys = "".join(entries)
    values = b"".join(entries.values())  # pickles keep strings as their UTF-8 bytes
    for secret in (sandbox.admin_key, created.secret):
        assert secret not in keys
        assert secret.encode() not in values
    assert hashlib.sha256(sandbox.admin_key.encode()).hexdigest()[:32] in keys
