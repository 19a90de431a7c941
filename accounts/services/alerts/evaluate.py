"""What each rule kind sees in one run's reads: an Observation per subject it watches.

An evaluator turns a rule's parameters, the run's reads (inputs.py) and the rule's states from
the last run into observations: for each subject (the account, a key, a rotation) how far its
condition holds now (`level`: 0 clear, 1 true, or a threshold such as 90) and in which period.
check.py compares them with the states and fires what became true. Evaluators read, never
write; a clear observation carries no message (building 500 keys' messages every run for
nothing would cost more than the rest of the run). One module per area: evaluate_billing.py,
evaluate_keys.py, evaluate_rotations.py, evaluate_integrity.py.
"""

from __future__ import annotations

from accounts.models import AlertKind, AlertRule, AlertState
from accounts.services.alerts import (
    evaluate_billing,
    evaluate_integrity,
    evaluate_keys,
    evaluate_rotations,
)
from accounts.services.alerts.evaluate_common import Observation
from accounts.services.alerts.inputs import AlertInputs

__all__ = ["Observation", "evaluate"]

_EVALUATORS = {
    AlertKind.BALANCE_BELOW: evaluate_billing.balance_below,
    AlertKind.SPEND_ABOVE: evaluate_billing.spend_above,
    AlertKind.KEY_LIMIT: evaluate_keys.key_limit,
    AlertKind.KEY_EXPIRING: evaluate_keys.key_expiring,
    AlertKind.KEY_UNUSED: evaluate_keys.key_unused,
    AlertKind.ROTATION_GRACE: evaluate_rotations.rotation_grace,
    AlertKind.ROTATION_FAILED: evaluate_rotations.rotation_failed,
    AlertKind.RATE_LIMITS: evaluate_integrity.rate_limits,
    AlertKind.AUDIT_INTEGRITY: evaluate_integrity.audit_integrity,
    AlertKind.TEAM_BUDGET: evaluate_billing.team_budget,
}


def evaluate(rule: AlertRule, inputs: AlertInputs, states: dict[str, AlertState]):
    """The rule's observations now (see the module docstring)."""
    return list(_EVALUATORS[rule.kind](rule.params or {}, inputs, states))
