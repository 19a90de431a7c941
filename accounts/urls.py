from django.urls import path

from accounts.views import dashboard, health

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
]
