"""Local records only: audit events, rotations, each user's preferences and the portal's own
records. Venice data stays in Venice. One module per area; everything is importable from
`accounts.models`."""

from accounts.models.access import PortalAccess
from accounts.models.audit import (
    APPEND_ONLY_BULK_CREATE,
    APPEND_ONLY_DELETE,
    APPEND_ONLY_FINISHED,
    APPEND_ONLY_IDENTITY,
    APPEND_ONLY_UPDATE,
    GENESIS_HASH,
    HASH_VERSION,
    PENDING_MUTABLE_FIELDS,
    AppendOnlyError,
    AuditAction,
    AuditChainHead,
    AuditEvent,
    AuditEventQuerySet,
    AuditOutcome,
    normalise_json,
    without_zone_id,
)
from accounts.models.members import Invitation, InvitationState
from accounts.models.policies import ChangeRequest, ChangeRequestState, KeyPolicy
from accounts.models.preferences import (
    DEFAULT_TIME_ZONE,
    TIME_ZONE_UNKNOWN,
    UserPreferences,
    available_time_zones,
)
from accounts.models.rotation import (
    ROTATION_OPEN_STATES,
    ROTATION_STEP_LABELS,
    Rotation,
    RotationGrace,
    RotationSchedule,
    RotationState,
)
from accounts.models.sessions import PortalSession
from accounts.models.teams import KeyManagerScope, KeyOwnership, Team, TeamMembership
from accounts.models.tokens import AccessToken, IdempotentRequest

__all__ = [
    "AccessToken",
    "KeyManagerScope",
    "KeyOwnership",
    "Team",
    "TeamMembership",
    "IdempotentRequest",
    "DEFAULT_TIME_ZONE",
    "TIME_ZONE_UNKNOWN",
    "UserPreferences",
    "available_time_zones",
    "APPEND_ONLY_BULK_CREATE",
    "APPEND_ONLY_DELETE",
    "APPEND_ONLY_FINISHED",
    "APPEND_ONLY_IDENTITY",
    "APPEND_ONLY_UPDATE",
    "GENESIS_HASH",
    "HASH_VERSION",
    "PENDING_MUTABLE_FIELDS",
    "ROTATION_OPEN_STATES",
    "ROTATION_STEP_LABELS",
    "AppendOnlyError",
    "AuditAction",
    "AuditChainHead",
    "AuditEvent",
    "AuditEventQuerySet",
    "AuditOutcome",
    "ChangeRequest",
    "ChangeRequestState",
    "KeyPolicy",
    "Invitation",
    "InvitationState",
    "PortalAccess",
    "PortalSession",
    "Rotation",
    "RotationGrace",
    "RotationSchedule",
    "RotationState",
    "normalise_json",
    "without_zone_id",
]
