"""Bounded fuzzing of the public HTTP APIs from their OpenAPI schemas: no input gives a 5xx.

Schemathesis generates valid and invalid requests for every operation; the services run
in-process without Kafka (intake answers from its outbox, followup reads its store), which is
where a 5xx would come from if any input were not handled.
"""

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from services.followup.app import create_api as create_followup_api
from services.followup.app import create_followup
from services.followup.config import Settings as FollowupSettings
from services.intake.app import create_app as create_intake
from services.intake.config import Settings as IntakeSettings
from services.intake.credentials import Kind, create_credential
from services.intake.database import create_store

FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)


@schemathesis.serializer("application/x-ndjson")
def _jsonl(_ctx: object, value: object) -> bytes:
    """The hotline batch body: whatever was generated, one JSON document per line."""
    values = value if isinstance(value, list) else [value]
    return b"\n".join(json.dumps(v, ensure_ascii=False).encode() for v in values)


# Loaded at import: schemathesis parametrizes tests at collection time. (Its `from_fixture`
# loader does not work with the pytest in use.)
_STATE = Path(tempfile.mkdtemp(prefix="feedbackloop-fuzz-"))
intake_api = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_intake(
        IntakeSettings(
            database_url=f"sqlite:///{_STATE / 'intake.db'}",
            kafka_bootstrap="127.0.0.1:1",
            rate_limit_per_minute=1_000_000,
            relay_enabled=False,
            read_model_enabled=False,
        )
    ),
)
followup_api = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_followup_api(
        create_followup(FollowupSettings(database_url=f"sqlite:///{_STATE / 'followup.db'}"))
    ),
)


# A call centre's credential, so the fuzzer reaches the hotline's body parsing past the 401.
with create_store(f"sqlite:///{_STATE / 'intake.db'}").begin() as _session:
    _CALL_CENTRE = create_credential(
        session=_session, kind=Kind.HOTLINE, name="fuzz", now=datetime.now(UTC)
    )


@intake_api.parametrize()
@FUZZ
def test_intake_never_answers_5xx(case: schemathesis.Case) -> None:
    if case.path.startswith("/api/v1/hotline/"):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_CALL_CENTRE}"}
    response = case.call()
    assert response.status_code < 500, response.text


@followup_api.parametrize()
@FUZZ
def test_followup_never_answers_5xx(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, response.text
