from django.urls import include, path

from accounts.views import billing, dashboard, health, limits

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
]
