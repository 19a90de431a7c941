"""Schemathesis against the live API's own OpenAPI document: generated requests to every
operation, with an Administrator's token, must never get a 500, and every answer must match
what the document says of it (status, content type, body, headers).

A bounded number of examples per operation keeps it inside the suite's time. (Schemathesis's
pytest plugin does not run under pytest 9 yet, so the operations are walked here, each with
its own Hypothesis strategy.)"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings

from accounts.roles import ADMINISTRATOR
from tests.factories import UserFactory
from tests.fixtures.api import make_token

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 12


def test_every_operation_answers_as_the_openapi_document_says(portal, settings):
    settings.PORTAL_API_RATE_LIMIT = "100000/min"  # schemathesis is not a runaway script
    member = UserFactory(username="schemathesis", role=ADMINISTRATOR)
    headers = {"Authorization": f"Bearer {make_token(member, ADMINISTRATOR).secret}"}
    schema = schemathesis.openapi.from_url(f"{portal.url}/api/v1/openapi.json")

    failures, checked = [], []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            # Not "schema-valid data is accepted": the forms' rules go beyond what a schema
            # can say (an expiry in the future, a limit a policy allows), and refusing those
            # with a 422 that names the field is the point.
            case.call_and_validate(
                base_url=portal.url,
                headers=headers,
                excluded_checks=[schemathesis.checks.positive_data_acceptance],
            )

        try:
            check()
        except Exception as failure:  # noqa: BLE001 - every operation is reported, not the first
            failures.append(f"{operation.label}: {failure}")
        checked.append(operation.label)

    assert len(checked) >= 20
    assert not failures, "\n\n".join(failures)
