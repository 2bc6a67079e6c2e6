"""X-Forwarded-For believed only from configured proxies, in each of the four services."""

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from feedbackloop.web.proxies import parse_proxies
from services.followup.app import create_app as create_followup
from services.followup.config import Settings as FollowupSettings
from services.intake.app import create_app as create_intake
from services.intake.config import Settings as IntakeSettings
from services.metrics.app import create_app as create_metrics
from services.metrics.config import Settings as MetricsSettings
from services.router.app import create_app as create_router
from services.router.config import Settings as RouterSettings

PROXY = ("10.0.3.7", 41000)
CITIZEN = "203.0.113.9"


def build_intake(tmp_path: Path, proxies: list[str]) -> FastAPI:
    store = f"sqlite:///{tmp_path / 'intake.db'}"
    return create_intake(IntakeSettings(database_url=store, trusted_proxies=proxies))


def build_router(tmp_path: Path, proxies: list[str]) -> FastAPI:
    store = f"sqlite:///{tmp_path / 'router.db'}"
    return create_router(RouterSettings(database_url=store, trusted_proxies=proxies))


def build_followup(tmp_path: Path, proxies: list[str]) -> FastAPI:
    store = f"sqlite:///{tmp_path / 'followup.db'}"
    return create_followup(FollowupSettings(database_url=store, trusted_proxies=proxies))


def build_metrics(_tmp_path: Path, proxies: list[str]) -> FastAPI:
    return create_metrics(MetricsSettings(trusted_proxies=proxies))


BUILDERS: dict[str, Callable[[Path, list[str]], FastAPI]] = {
    "intake": build_intake,
    "router": build_router,
    "followup": build_followup,
    "metrics": build_metrics,
}


def client_seen(app: FastAPI, *headers: tuple[str, str]) -> str:
    """The client address a route of `app` sees for a request from PROXY with `headers`."""

    # The lifespan never runs (no broker); the probe only reads the scope's client.
    @app.get("/_probe/client")
    def probe(request: Request) -> str:
        return request.client.host if request.client else ""

    client = TestClient(app, client=PROXY)
    return str(client.get("/_probe/client", headers=list(headers)).json())


@pytest.mark.parametrize("service", sorted(BUILDERS))
def test_without_trusted_proxies_the_peer_is_the_client(service: str, tmp_path: Path) -> None:
    app = BUILDERS[service](tmp_path, [])
    assert client_seen(app, ("X-Forwarded-For", CITIZEN)) == PROXY[0]


@pytest.mark.parametrize("service", sorted(BUILDERS))
def test_a_trusted_proxy_names_the_client(service: str, tmp_path: Path) -> None:
    app = BUILDERS[service](tmp_path, parse_proxies("10.0.0.0/16, 192.0.2.1"))
    # The proxy appends what it saw; a client-supplied entry further left is ignored.
    assert client_seen(app, ("X-Forwarded-For", f"198.51.100.1, {CITIZEN}")) == CITIZEN


def test_an_untrusted_proxy_in_the_chain_is_where_belief_stops(tmp_path: Path) -> None:
    app = build_metrics(tmp_path, ["10.0.0.0/8"])
    chain = f"{CITIZEN}, 198.51.100.50, 10.0.9.9"
    assert client_seen(app, ("X-Forwarded-For", chain)) == "198.51.100.50"


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("", []),
        ("127.0.0.1", ["127.0.0.1"]),
        ("10.0.0.0/8, 172.16.0.0/12 ::1", ["10.0.0.0/8", "172.16.0.0/12", "::1"]),
        ('["10.1.2.3/16"]', ["10.1.0.0/16"]),
        (["192.168.0.1"], ["192.168.0.1"]),
    ],
)
def test_proxies_are_read_from_a_list_or_a_separated_string(raw: object, parsed: list[str]) -> None:
    assert parse_proxies(raw) == parsed


@pytest.mark.parametrize("raw", ["*", "proxy.local", "10.0.0.0/33", "10.0.0.1,,nope", '["x"'])
def test_a_mistyped_proxy_stops_the_service_at_start(raw: str) -> None:
    with pytest.raises(ValidationError):
        MetricsSettings(trusted_proxies=raw)


def test_every_service_reads_the_shared_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_TRUSTED_PROXIES", "10.0.0.0/8,10.1.1.1")
    monkeypatch.setenv("FEEDBACKLOOP_ROUTER_TRUSTED_PROXIES", "192.0.2.0/24")
    assert MetricsSettings().trusted_proxies == ["10.0.0.0/8", "10.1.1.1"]
    assert IntakeSettings().trusted_proxies == ["10.0.0.0/8", "10.1.1.1"]
    assert FollowupSettings().trusted_proxies == ["10.0.0.0/8", "10.1.1.1"]
    assert RouterSettings().trusted_proxies == ["192.0.2.0/24"]
