from django.urls import include, path

from accounts.views import audit, dashboard, health

audit_patterns = (
    [
        path("audit/", audit.audit_list, name="list"),
        path("audit/<int:event_id>/", audit.audit_detail, name="detail"),
        path("audit.csv", audit.audit_csv, name="csv"),
    ],
    "audit",
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("", include(audit_patterns)),
]
