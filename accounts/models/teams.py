"""Teams and who owns each key: local records Venice knows nothing of.

Venice's keys are just descriptions. A team groups portal members and keys, with an optional
monthly budget per currency; a key's ownership names its team and its owner (a portal member,
or a free-text contact for a service). Ownership rows outlive their keys on purpose: a key
deleted mid-month still bills to its team in that month's allocation."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Team(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    # A monthly budget in each currency (they are never added together); blank: none.
    budget_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_diem = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="TeamMembership", related_name="portal_teams"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_usd__isnull=True) | Q(budget_usd__gte=0),
                name="team_budget_usd_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(budget_diem__isnull=True) | Q(budget_diem__gte=0),
                name="team_budget_diem_not_negative",
            ),
        ]

    def __str__(self):
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("team__name", "user__username")
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="team_membership_once"),
        ]

    def __str__(self):
        return f"{self.user} in {self.team}"


class KeyOwnership(models.Model):
    """The team and owner of one Venice key (by id). Owner: a member or a contact, not both."""

    key_id = models.CharField(max_length=64, unique=True)
    # The key's name when last assigned: a deleted key still has one in the allocation.
    key_description = models.CharField(max_length=128, blank=True)
    key_last6 = models.CharField(max_length=6, blank=True)
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="key_ownerships"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_keys",
    )
    owner_contact = models.CharField(max_length=120, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by_username = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ("key_description", "key_id")
        indexes = [models.Index(fields=["team", "key_id"], name="key_ownership_team")]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=True) | Q(owner_contact=""),
                name="key_ownership_one_owner",
            ),
        ]

    def __str__(self):
        return f"{self.key_id} → {self.team or 'no team'}"

    @property
    def owner_label(self) -> str:
        if self.owner is not None:
            return self.owner.get_full_name() or self.owner.get_username()
        return self.owner_contact


class KeyManagerScope(models.Model):
    """A Key manager limited to their teams' keys, one by one (PORTAL_SCOPE_KEY_MANAGERS
    limits them all). Present: scoped."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_scope"
    )
    set_at = models.DateTimeField(default=timezone.now)
    set_by_username = models.CharField(max_length=150, blank=True)

    def __str__(self):
        return f"{self.user}: their teams' keys only"
