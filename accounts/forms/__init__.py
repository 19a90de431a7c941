"""Forms: parse and validate what people type; views pass the cleaned values to services.

One module per use case (keys, rotation, audit, billing, limits, preferences) and the shared
date fields; everything is importable from `accounts.forms`.
"""

from accounts.forms.audit import AUDIT_CURSOR_ERROR, AUDIT_DATE_ORDER_ERROR, AuditFilterForm
from accounts.forms.billing import (
    CURRENCY_CHOICES,
    END_IN_FUTURE,
    END_REQUIRED,
    RANGE_TOO_LONG,
    START_AFTER_END,
    START_REQUIRED,
    UsageHistoryFilterForm,
    UsagePeriodForm,
)
from accounts.forms.fields import (
    DATE_OUT_OF_RANGE,
    EARLIEST_DATE,
    LATEST_DATE,
    BoundedDateField,
    BoundedDateTimeField,
    DateTimeLocalInput,
)
from accounts.forms.keys import (
    CONFIRMATION_MISMATCH,
    DESCRIPTION_MAX_LENGTH,
    DESCRIPTION_REQUIRED,
    EXPIRY_NOT_IN_FUTURE,
    KEY_TYPE_CHOICES,
    LIMIT_DECIMAL_PLACES,
    LIMIT_MAX,
    LIMIT_PERIOD_CHOICES,
    MODEL_PRIVACY_CHOICES,
    SUBMISSION_INVALID,
    KeyCreateForm,
    KeyDeleteForm,
    KeyEditForm,
    KeyFilterForm,
)
from accounts.forms.limits import LimitsForm
from accounts.forms.preferences import PreferencesForm
from accounts.forms.rotation import (
    ABORT_CHOICE_REQUIRED,
    GRACE_CHOICES,
    GRACE_END_NOT_IN_FUTURE,
    GRACE_END_REQUIRED,
    NEW_EXPIRY_CUSTOM,
    NEW_EXPIRY_LIFETIME,
    NEW_EXPIRY_NEVER,
    NEW_EXPIRY_REQUIRED,
    RotationAbortForm,
    RotationForm,
)

__all__ = [
    "ABORT_CHOICE_REQUIRED",
    "AUDIT_CURSOR_ERROR",
    "AUDIT_DATE_ORDER_ERROR",
    "CONFIRMATION_MISMATCH",
    "CURRENCY_CHOICES",
    "DATE_OUT_OF_RANGE",
    "DESCRIPTION_MAX_LENGTH",
    "DESCRIPTION_REQUIRED",
    "EARLIEST_DATE",
    "END_IN_FUTURE",
    "END_REQUIRED",
    "EXPIRY_NOT_IN_FUTURE",
    "GRACE_CHOICES",
    "GRACE_END_NOT_IN_FUTURE",
    "GRACE_END_REQUIRED",
    "KEY_TYPE_CHOICES",
    "LATEST_DATE",
    "LIMIT_DECIMAL_PLACES",
    "LIMIT_MAX",
    "LIMIT_PERIOD_CHOICES",
    "MODEL_PRIVACY_CHOICES",
    "NEW_EXPIRY_CUSTOM",
    "NEW_EXPIRY_LIFETIME",
    "NEW_EXPIRY_NEVER",
    "NEW_EXPIRY_REQUIRED",
    "RANGE_TOO_LONG",
    "START_AFTER_END",
    "START_REQUIRED",
    "SUBMISSION_INVALID",
    "AuditFilterForm",
    "BoundedDateField",
    "BoundedDateTimeField",
    "DateTimeLocalInput",
    "KeyCreateForm",
    "KeyDeleteForm",
    "KeyEditForm",
    "KeyFilterForm",
    "LimitsForm",
    "PreferencesForm",
    "RotationAbortForm",
    "RotationForm",
    "UsageHistoryFilterForm",
    "UsagePeriodForm",
]
