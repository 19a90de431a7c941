from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Venice account portal"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed

        from accounts import checks  # noqa: F401 (registers the system checks)
        from accounts.services import access_events, members

        # Keeps the role groups in step with the table in roles.py whenever it changes.
        post_migrate.connect(_sync_roles_after_migrate, sender=self)
        # Role changes made outside the portal's services are audit records too.
        m2m_changed.connect(
            members.record_role_changes,
            sender=get_user_model().groups.through,
            dispatch_uid="accounts.record_role_changes",
        )
        access_events.connect()


def _sync_roles_after_migrate(sender, apps=None, **kwargs):
    # `flush` (the test runner, after a transactional test) sends post_migrate without `apps`.
    from django.apps import apps as global_apps

    from accounts.roles import sync_role_groups

    sync_role_groups(apps or global_apps)
