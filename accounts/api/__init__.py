"""The portal API, /api/v1/ (django-ninja): the key, rotation, usage, audit, approval and
alert-rule operations of the pages, for automation, over the same services, roles, policies
and audit.

Authenticated by personal access tokens (accounts/services/tokens.py), rate-limited per
token; errors in one JSON shape (errors.py); the OpenAPI document at /api/v1/openapi.json and
its reference at /api/v1/docs. docs/api.md shows the common tasks with curl.

The routers and schemas have no `from __future__ import annotations`: django-ninja reads
their annotations at runtime."""

from ninja import NinjaAPI

from accounts.api import alerts, approvals, audit, errors, keys, rotations, teams, usage
from accounts.api.auth import TokenAuth, TokenRateThrottle

api = NinjaAPI(
    title="Venice account portal API",
    version="1",
    description=(
        "Manage a Venice account's API keys, rotations, usage, teams, cost allocation and "
        "audit log with the portal's roles, policies and audit. Authenticate with a personal "
        "access token (`Authorization: Bearer vpt_…`, made at /account/tokens/). Errors: "
        '`{"error": {"code", "message", "fields"}}`.'
    ),
    urls_namespace="api",
    auth=TokenAuth(),
    throttle=[TokenRateThrottle()],
)
errors.install(api)
for module in (keys, rotations, usage, audit, approvals, alerts, teams):
    api.add_router("", module.router)
