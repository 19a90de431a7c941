from django.urls import include, path

from accounts.views import audit, billing, dashboard, health, limits

audit_patterns = (
    [
        path("audit/", audit.audit_list, name="list"),
        path("audit/<int:event_id>/", audit.audit_detail, name="detail"),
        path("audit.csv", audit.audit_csv, name="csv"),
    ],
    "audit",
)

billing_patterns = [
    path("", billing.overview, name="overview"),
    path("usage/", billing.usage, name="usage"),
    path("usage.csv", billing.usage_csv, name="usage_csv"),
]

limits_patterns = [
    path("", limits.overview, name="overview"),
]

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("billing/", include((billing_patterns, "billing"))),
    path("limits/", include((limits_patterns, "limits"))),
    path("", include(audit_patterns)),
]
