from django.urls import include, path

from accounts.views import audit, billing, dashboard, health, keys, limits, preferences, rotation

keys_patterns = (
    [
        path("", keys.key_list, name="list"),
        # Before "<key_id>/": "new" is not a key id.
        path("new/", keys.key_new, name="new"),
        path("<str:key_id>/", keys.key_detail, name="detail"),
        path("<str:key_id>/edit/", keys.key_edit, name="edit"),
        path("<str:key_id>/delete/", keys.key_delete, name="delete"),
        path("<str:key_id>/rotate/", rotation.key_rotate, name="rotate"),
        path(
            "<str:key_id>/rotations/<int:rotation_id>/resume/",
            rotation.rotation_resume_view,
            name="rotation_resume",
        ),
        path(
            "<str:key_id>/rotations/<int:rotation_id>/abort/",
            rotation.rotation_abort_view,
            name="rotation_abort",
        ),
    ],
    "keys",
)

audit_patterns = (
    [
        path("audit/", audit.audit_list, name="list"),
        path("audit/<int:event_id>/", audit.audit_detail, name="detail"),
        path("audit.csv", audit.audit_csv, name="csv"),
    ],
    "audit",
)

billing_patterns = (
    [
        path("", billing.overview, name="overview"),
        path("usage/", billing.usage, name="usage"),
        path("usage.csv", billing.usage_csv, name="usage_csv"),
        path("spend-by-key.csv", billing.spend_by_key_csv, name="spend_by_key_csv"),
        path("spend-by-model.csv", billing.spend_by_model_csv, name="spend_by_model_csv"),
    ],
    "billing",
)

limits_patterns = ([path("", limits.overview, name="overview")], "limits")

# Each user's own pages (every role).
account_patterns = (
    [path("preferences/", preferences.preferences, name="preferences")],
    "account",
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("keys/", include(keys_patterns)),
    path("billing/", include(billing_patterns)),
    path("limits/", include(limits_patterns)),
    path("account/", include(account_patterns)),
    path("", include(audit_patterns)),
]
