"""Outbound HTTP to the alert channels' webhooks (`webhooks.py`): the one place besides
accounts/venice/ that imports `requests`."""

from accounts.delivery.webhooks import WebhookResult, post_webhook, sign

__all__ = ["WebhookResult", "post_webhook", "sign"]
