"""Bounded fuzzing of the router's, followup's and metrics' HTTP APIs: no input or header
gives a 5xx (issue 15, must have 6). Intake's own is in `test_openapi.py`.

Each operation is fuzzed twice: with the headers schemathesis makes up (Authorization among
them, so malformed and non-Latin-1-ASCII credentials are tried), and with a valid credential,
so bodies, paths and queries reach the handlers past the 401. The services run in-process
without Kafka; the router gets a tiny model trained here (its API never classifies).
"""

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.followup import auth
from services.followup.app import create_api as create_followup_api
from services.followup.app import create_followup
from services.followup.config import Settings as FollowupSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.config import Settings as MetricsSettings
from services.router.app import create_app as create_router
from services.router.classifier import fit
from services.router.config import Settings as RouterSettings

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
)

_STATE = Path(tempfile.mkdtemp(prefix="feedbackloop-fuzz-services-"))


@asynccontextmanager
async def _no_background(_app: FastAPI) -> AsyncIterator[None]:
    yield


def in_process(app: FastAPI) -> "schemathesis.specs.openapi.schemas.OpenApiSchema":
    """The app's schema, called in-process without its Kafka side: started and stopped
    against no broker around each call (as the ASGI client runs the lifespan), it costs
    seconds that fuzzing the HTTP side does not need."""
    app.router.lifespan_context = _no_background
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    return schema


# Three categories with five texts each: enough for the calibrated SVM, trained in a second.
_TEXTS = {
    "城乡建设": ["小区楼道灯坏了", "小区电梯停运", "物业不管维修", "楼顶漏水", "小区道路破损"],
    "交通运输": ["公交车不按站停", "出租车拒载", "路口红绿灯坏了", "公交线路取消", "站台没有顶棚"],
    "环境保护": ["工厂排放黑烟", "河道有异味", "夜间施工噪音", "垃圾焚烧冒烟", "餐馆油烟扰民"],
}
fit(
    [text for texts in _TEXTS.values() for text in texts],
    [label for label, texts in _TEXTS.items() for _ in texts],
).save(_STATE / "model")

OPERATOR_TOKEN = "fuzz-operator-token"
router_api = in_process(
    create_router(
        RouterSettings(
            database_url=f"sqlite:///{_STATE / 'router.db'}",
            kafka_bootstrap="127.0.0.1:1",
            model_dir=_STATE / "model",
            operator_token=OPERATOR_TOKEN,
        )
    ),
)

_followup = create_followup(FollowupSettings(database_url=f"sqlite:///{_STATE / 'followup.db'}"))
with _followup.sessions.begin() as _session:
    SUPERVISOR = auth.create_credential(
        session=_session,
        name="督办",
        role=auth.Role.SUPERVISOR,
        department_code=None,
        now=datetime.now(UTC),
    )
followup_api = in_process(create_followup_api(_followup))

_metrics = create_metrics(MetricsSettings(kafka_bootstrap="127.0.0.1:1"))
# As if the reader had folded the log: a reader that is not there yet answers 503 on purpose
# (tests/metrics/test_app.py), which is not what is fuzzed here.
_metrics.state.reader.caught_up = True
_metrics.state.reader.alive = lambda: True
metrics_api = in_process(_metrics)


def no_5xx(case: schemathesis.Case, token: str | None = None) -> None:
    if token is not None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    response = case.call()
    assert response.status_code < 500, response.text


@router_api.parametrize()
@FUZZ
def test_router_never_answers_5xx(case: schemathesis.Case) -> None:
    no_5xx(case)


@router_api.parametrize()
@FUZZ
def test_router_never_answers_5xx_to_an_operator(case: schemathesis.Case) -> None:
    no_5xx(case, OPERATOR_TOKEN)


@followup_api.parametrize()
@FUZZ
def test_followup_never_answers_5xx_to_a_supervisor(case: schemathesis.Case) -> None:
    no_5xx(case, SUPERVISOR)


@metrics_api.parametrize()
@FUZZ
def test_metrics_never_answers_5xx(case: schemathesis.Case) -> None:
    no_5xx(case)


# Header values as uvicorn may deliver them: any byte but the controls its parser refuses.
_HEADER_BYTES = st.binary(min_size=0, max_size=300).map(
    lambda raw: bytes(b for b in raw if b == 9 or 32 <= b != 127)
)
_PROTECTED = [
    (router_api.app, "/api/v1/triage"),
    (router_api.app, "/api/v1/hotspots"),
    (followup_api.app, "/api/v1/workbench/me"),
    (followup_api.app, "/api/v1/workbench/tickets"),
]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(value=_HEADER_BYTES, prefix=st.sampled_from([b"", b"Bearer ", b"bearer  ", b"Basic "]))
def test_any_authorization_bytes_are_a_401(value: bytes, prefix: bytes) -> None:
    for app, path in _PROTECTED:
        reply = TestClient(app).get(path, headers={"Authorization": prefix + value})
        assert reply.status_code == 401, (path, prefix + value, reply.text)
        assert reply.headers["content-type"].startswith("application/problem+json")
