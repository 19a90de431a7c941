"""Alerts: rules that watch the Venice account, and the messages they send.

One module per use case: `kinds.py` (the table of kinds, who manages and reads each),
`rules.py` and `channels.py` (changes, each an audit record), `inputs.py` (what a run reads
from Venice), `evaluate.py` and its `evaluate_*.py` (what each kind sees in it), `check.py`
(a run: episodes, firing, the lease), `fire.py` (recording a firing), `deliver.py` (sending,
retries), `messages.py` (email and webhook bodies), `notifications.py` (the bell).
"""

from accounts.services.alerts.channels import (
    AlertChannelError,
    CreatedChannel,
    TestOutcome,
    alert_channel_create,
    alert_channel_delete,
    alert_channel_disable,
    alert_channel_test,
)
from accounts.services.alerts.check import CheckReport, alerts_check, alerts_now
from accounts.services.alerts.notifications import notifications_mark_read
from accounts.services.alerts.rules import (
    STARTER_RULES,
    AlertRuleError,
    alert_rule_create,
    alert_rule_delete,
    alert_rule_set_enabled,
    alert_rule_update,
    alert_rules_starter,
)

__all__ = [
    "STARTER_RULES",
    "AlertChannelError",
    "AlertRuleError",
    "CheckReport",
    "CreatedChannel",
    "TestOutcome",
    "alert_channel_create",
    "alert_channel_delete",
    "alert_channel_disable",
    "alert_channel_test",
    "alert_rule_create",
    "alert_rule_delete",
    "alert_rule_set_enabled",
    "alert_rule_update",
    "alert_rules_starter",
    "alerts_check",
    "alerts_now",
    "notifications_mark_read",
]
