"""The model that holds the portal's ability permissions (accounts/roles.py)."""

from django.db import models


class PortalAccess(models.Model):
    """Holds the portal's ability permissions (accounts/roles.py); it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        verbose_name = "portal access"

    def __str__(self):
        return "portal access"
