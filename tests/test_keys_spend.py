"""A key's last 30 days of spend on its page (roles that see billing): loaded as a fragment,
per day in USD and DIEM apart, totalling what Venice's analytics say for the key."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_panel_totals_the_keys_analytics_over_its_thirty_days(
    finance_client, inference_key_id, shared_venice, sandbox
):
    response = finance_client.get(
        reverse("keys:spend", args=[inference_key_id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200 and b"<html" not in response.content
    spend = response.context["spend"]
    yesterday = sandbox.clock.now().date() - timedelta(days=1)
    assert (spend.first, spend.last) == (yesterday - timedelta(days=29), yesterday)
    assert len(spend.days) == 30
    analytics = shared_venice.billing.get_usage_analytics(start=spend.first, end=spend.last)
    (usage,) = [k for k in analytics.by_key if k.api_key_id == inference_key_id]
    # Each day's figure and the range's are rounded to six decimals once each.
    assert abs(spend.usd - usage.total_usd) <= Decimal("0.0000005") * 31
    assert abs(spend.diem - usage.total_diem) <= Decimal("0.0000005") * 31
    assert spend.usd > 0
    page = response.content.decode()
    assert "This key&#x27;s spend per day in USD" in page or "spend per day in USD" in page


def test_the_key_page_loads_it_only_for_roles_that_see_billing(
    client, finance_user, key_manager, inference_key_id
):
    url = reverse("keys:spend", args=[inference_key_id])
    client.force_login(finance_user)
    assert url in client.get(reverse("keys:detail", args=[inference_key_id])).content.decode()
    client.force_login(key_manager)
    assert url not in client.get(reverse("keys:detail", args=[inference_key_id])).content.decode()
    assert client.get(url).status_code == 403


def test_venice_down_is_a_message_in_the_panel(
    finance_client, inference_key_id, sandbox, no_backoff
):
    sandbox.faults.inject("/billing/usage-analytics", "GET", status=503, times=200)
    response = finance_client.get(
        reverse("keys:spend", args=[inference_key_id]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "could not be read" in response.content.decode()
