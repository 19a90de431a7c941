from django.urls import include, path

from accounts.views import (
    account,
    adoption,
    alerts,
    allocation,
    approvals,
    audit,
    billing,
    dashboard,
    health,
    key_owners,
    keys,
    limits,
    policies,
    preferences,
    rotation,
    team,
    teams,
    tokens,
)

keys_patterns = (
    [
        path("", keys.key_list, name="list"),
        # Before "<key_id>/": "new" is not a key id.
        path("new/", keys.key_new, name="new"),
        path("assign/", key_owners.keys_assign, name="assign"),
        path("<str:key_id>/", keys.key_detail, name="detail"),
        path("<str:key_id>/edit/", keys.key_edit, name="edit"),
        path("<str:key_id>/delete/", keys.key_delete, name="delete"),
        path("<str:key_id>/owner/", key_owners.key_owner, name="owner"),
        path("<str:key_id>/spend/", billing.key_spend, name="spend"),
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
        path(
            "<str:key_id>/rotations/<int:rotation_id>/traffic/",
            rotation.rotation_traffic_view,
            name="rotation_traffic",
        ),
        path(
            "<str:key_id>/rotations/<int:rotation_id>/finish-early/",
            rotation.rotation_finish_early_view,
            name="rotation_finish_early",
        ),
        path(
            "<str:key_id>/rotations/<int:rotation_id>/extend/",
            rotation.rotation_extend_view,
            name="rotation_extend",
        ),
    ],
    "keys",
)

audit_patterns = (
    [
        path("audit/", audit.audit_list, name="list"),
        path("audit/<int:event_id>/", audit.audit_detail, name="detail"),
        path("audit.csv", audit.audit_csv, name="csv"),
        path("audit.jsonl", audit.audit_jsonl, name="jsonl"),
        path("audit/adopt/", adoption.adopt, name="adopt"),
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
        path("allocation/", allocation.allocation, name="allocation"),
        path("allocation.csv", allocation.allocation_csv, name="allocation_csv"),
    ],
    "billing",
)

limits_patterns = ([path("", limits.overview, name="overview")], "limits")

team_patterns = (
    [
        path("", team.member_list, name="list"),
        path("invite/", team.invite, name="invite"),
        path("join/<str:token>/", team.join, name="join"),
        path("<int:user_id>/", team.member_detail, name="detail"),
        path("<int:user_id>/role/", team.member_role, name="role"),
        path("<int:user_id>/deactivate/", team.member_deactivate_view, name="deactivate"),
        path("<int:user_id>/reactivate/", team.member_reactivate_view, name="reactivate"),
        path("<int:user_id>/mfa-reset/", team.member_mfa_reset_view, name="mfa_reset"),
        path("<int:user_id>/key-scope/", teams.member_key_scope, name="key_scope"),
        path(
            "<int:user_id>/sessions/revoke/",
            team.member_sessions_revoke_view,
            name="sessions_revoke",
        ),
        path(
            "invitations/<int:invitation_id>/resend/",
            team.invitation_resend_view,
            name="invitation_resend",
        ),
        path(
            "invitations/<int:invitation_id>/revoke/",
            team.invitation_revoke_view,
            name="invitation_revoke",
        ),
    ],
    "team",
)

approval_patterns = (
    [
        path("", approvals.approval_list, name="list"),
        path("<int:request_id>/", approvals.approval_detail, name="detail"),
        path("<int:request_id>/approve/", approvals.approval_approve, name="approve"),
        path("<int:request_id>/reject/", approvals.approval_reject, name="reject"),
        path("<int:request_id>/withdraw/", approvals.approval_withdraw, name="withdraw"),
        path("<int:request_id>/make/", approvals.approval_execute, name="execute"),
    ],
    "approvals",
)

teams_patterns = (
    [
        path("", teams.team_list, name="list"),
        path("new/", teams.team_new, name="new"),
        path("<slug:slug>/", teams.team_detail, name="detail"),
        path("<slug:slug>/edit/", teams.team_edit, name="edit"),
        path("<slug:slug>/delete/", teams.team_delete_view, name="delete"),
        path("<slug:slug>/members/", teams.team_member_add_view, name="member_add"),
        path(
            "<slug:slug>/members/<int:user_id>/remove/",
            teams.team_member_remove_view,
            name="member_remove",
        ),
    ],
    "teams",
)

policy_patterns = ([path("", policies.policies, name="edit")], "policies")

alerts_patterns = (
    [
        path("", alerts.rule_list, name="rules"),
        path("new/", alerts.rule_new, name="new"),
        path("new/<str:kind>/", alerts.rule_new_kind, name="new_kind"),
        path("starter/", alerts.starter, name="starter"),
        path("<int:rule_id>/edit/", alerts.rule_edit, name="edit"),
        path("<int:rule_id>/delete/", alerts.rule_delete, name="delete"),
        path("<int:rule_id>/toggle/", alerts.rule_toggle, name="toggle"),
        path("channels/", alerts.channel_list, name="channels"),
        path("channels/new/", alerts.channel_new, name="channel_new"),
        path("channels/<int:channel_id>/delete/", alerts.channel_delete, name="channel_delete"),
        path("channels/<int:channel_id>/test/", alerts.channel_test, name="channel_test"),
        path("log/", alerts.log, name="log"),
        path("log/<int:event_id>/", alerts.event_detail, name="event"),
        path("notifications/", alerts.notifications, name="notifications"),
        path("notifications/read/", alerts.notifications_read, name="notifications_read"),
    ],
    "alerts",
)

account_patterns = (
    [
        path("", account.overview, name="overview"),
        path("sessions/", account.sessions, name="sessions"),
        path("sessions/<str:session_id>/end/", account.session_end, name="session_end"),
        path("preferences/", preferences.preferences, name="preferences"),
        path("tokens/", tokens.tokens, name="tokens"),
        path("tokens/<int:token_id>/revoke/", tokens.token_revoke_view, name="token_revoke"),
    ],
    "account",
)

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("healthz", health.healthz, name="healthz"),
    path("keys/", include(keys_patterns)),
    path("billing/", include(billing_patterns)),
    path("limits/", include(limits_patterns)),
    path("team/", include(team_patterns)),
    path("teams/", include(teams_patterns)),
    path("approvals/", include(approval_patterns)),
    path("settings/policies/", include(policy_patterns)),
    path("alerts/", include(alerts_patterns)),
    path("account/", include(account_patterns)),
    path("", include(audit_patterns)),
]
