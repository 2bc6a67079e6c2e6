"""FEEDBACKLOOP_STATE_DIR moves every store: the services' and the CLI's alike."""

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.web.credentials import split_token
from services.followup.app import create_api, create_followup
from services.followup.config import Settings as FollowupSettings
from services.followup.views import WORKBENCH
from services.intake.config import Settings as IntakeSettings
from services.intake.credentials import Kind, Systems
from services.intake.database import create_store
from services.metrics.config import Settings as MetricsSettings
from services.router.config import Settings as RouterSettings


def test_the_state_dir_places_every_services_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_STATE_DIR", str(tmp_path))
    assert IntakeSettings().database_url == f"sqlite:///{tmp_path / 'intake.db'}"
    assert FollowupSettings().database_url == f"sqlite:///{tmp_path / 'followup.db'}"
    router = RouterSettings()
    assert router.database_url == f"sqlite:///{tmp_path / 'router.db'}"
    assert router.model_dir == tmp_path / "models" / "router"
    # A service's own URL still wins over the state dir.
    monkeypatch.setenv("FEEDBACKLOOP_FOLLOWUP_DATABASE_URL", "postgresql+psycopg://db/followup")
    assert FollowupSettings().database_url == "postgresql+psycopg://db/followup"


def test_shared_variables_reach_every_service_and_a_services_own_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_KAFKA_BOOTSTRAP", "kafka-1:9092")
    monkeypatch.setenv("FEEDBACKLOOP_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("FEEDBACKLOOP_ROUTER_KAFKA_BOOTSTRAP", "kafka-2:9092")
    # Only the shared fields are read without a service prefix.
    monkeypatch.setenv("FEEDBACKLOOP_PORT", "1")
    for settings in (IntakeSettings(), FollowupSettings(), MetricsSettings()):
        assert (settings.kafka_bootstrap, settings.topic_partitions) == ("kafka-1:9092", 12)
    router = RouterSettings()
    assert (router.kafka_bootstrap, router.topic_partitions) == ("kafka-2:9092", 12)
    ports = [IntakeSettings().port, RouterSettings().port, FollowupSettings().port]
    assert ports == [8001, 8002, 8003]


def test_a_followup_credential_made_by_the_cli_opens_the_served_workbench(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state, elsewhere = tmp_path / "state", tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("FEEDBACKLOOP_STATE_DIR", str(state))
    made = CliRunner().invoke(
        app,
        ["followup", "add-credential", "--name", "市水务局", "--department", "water"],
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert (state / "followup.db").is_file()
    assert list(elsewhere.iterdir()) == []  # nothing in ./.var

    # The service started in the same environment, on the store it finds there.
    client = TestClient(create_api(create_followup(FollowupSettings())))
    me = client.get(f"{WORKBENCH}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "市水务局", "role": "department", "department_code": "water"}
    wrong = client.get(f"{WORKBENCH}/me", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401

    listed = CliRunner().invoke(app, ["followup", "list-credentials"], terminal_width=200)
    assert listed.exit_code == 0 and "市水务局" in listed.output


def test_an_intake_credential_made_by_the_cli_lands_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_STATE_DIR", str(tmp_path))
    made = CliRunner().invoke(app, ["intake", "add-credential", "--name", "A3区话务系统"])
    assert made.exit_code == 0, made.output
    parsed = split_token(made.stdout.strip().splitlines()[-1])
    assert parsed is not None
    systems = Systems(sessions=create_store(IntakeSettings().database_url), per_minute={})
    assert systems.verify(parsed, kind=Kind.HOTLINE) is not None
    assert (tmp_path / "intake.db").is_file()
