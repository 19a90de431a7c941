from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Venice account portal"

    def ready(self):
        # Keeps the role groups in step with the table in roles.py whenever it changes.
        post_migrate.connect(_sync_roles_after_migrate, sender=self)


def _sync_roles_after_migrate(sender, apps=None, **kwargs):
    # `flush` (the test runner, after a transactional test) sends post_migrate without `apps`.
    from django.apps import apps as global_apps

    from accounts.roles import sync_role_groups

    sync_role_groups(apps or global_apps)
