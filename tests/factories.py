import uuid

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import AuditAction, AuditEvent, AuditOutcome
from accounts.roles import ADMINISTRATOR
from accounts.services.members import role_change_recorded_here


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    password = factory.django.Password("correct horse battery staple")

    @factory.post_generation
    def role(user, create, extracted, **kwargs):
        # Test data, like a fixture: the role is given without an audit record (the tests of
        # role changes make theirs through the services, the admin or assign_role).
        if create and extracted:
            with role_change_recorded_here():
                user.groups.add(Group.objects.get(name=extracted))


class AuditEventFactory(factory.django.DjangoModelFactory):
    """A finished (sealed) audit record by default; `pending=True` or `failed=True` for others.

    Saved through AuditEvent.save(), so every record created here is chained like a real one.
    The actor is a username snapshot only (a user's password hash costs most of a second);
    pass `actor=user`, or `with_actor=True` for a new user.
    """

    class Meta:
        model = AuditEvent

    class Params:
        pending = factory.Trait(outcome=AuditOutcome.PENDING, completed_at=None)
        failed = factory.Trait(
            outcome=AuditOutcome.FAILED, error="UpstreamUnavailableError: Venice is down"
        )
        with_actor = factory.Trait(actor=factory.SubFactory(UserFactory))

    time = factory.LazyFunction(timezone.now)
    actor = None
    actor_username = factory.LazyAttribute(
        lambda event: event.actor.username if event.actor else "ada"
    )
    actor_role = ADMINISTRATOR
    action = AuditAction.KEY_UPDATED
    key_id = factory.Sequence(lambda n: f"key-{n:06d}")
    key_description = factory.Faker("sentence", nb_words=3)
    key_last6 = factory.Sequence(lambda n: f"{n:06x}"[-6:])
    changes = factory.LazyAttribute(
        lambda event: (
            {"description": ["Old name", "New name"]}
            if event.action == AuditAction.KEY_UPDATED
            else {}
        )
    )
    details = factory.LazyFunction(dict)
    ip = "203.0.113.7"
    user_agent = "Mozilla/5.0 (factory)"
    request_id = factory.LazyFunction(lambda: uuid.uuid4().hex)
    outcome = AuditOutcome.SUCCEEDED
    error = ""
    completed_at = factory.LazyAttribute(lambda event: event.time)
