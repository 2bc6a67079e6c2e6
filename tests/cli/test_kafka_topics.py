"""`feedbackloop kafka create-topics` creates the core topics on any broker (compose's `topics`)."""

import pytest
from kafka.errors import KafkaTimeoutError
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.cli import kafka as kafka_cli
from feedbackloop.events.topics import CORE_TOPICS


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], int]]:
    """Calls of create_topics; the first one fails as while the broker is still starting."""
    calls: list[tuple[str, list[str], int]] = []

    def create_topics(bootstrap: str, names: list[str], *, partitions: int) -> list[str]:
        calls.append((bootstrap, names, partitions))
        if len(calls) == 1:
            raise KafkaTimeoutError("Unable to bootstrap")
        return names

    monkeypatch.setattr(kafka_cli, "create_topics", create_topics)
    monkeypatch.setattr(kafka_cli.time, "sleep", lambda seconds: None)
    for name in ("FEEDBACKLOOP_KAFKA_BOOTSTRAP", "FEEDBACKLOOP_TOPIC_PARTITIONS"):
        monkeypatch.delenv(name, raising=False)
    return calls


def test_it_waits_for_the_broker_and_reads_the_environment(
    created: list[tuple[str, list[str], int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("FEEDBACKLOOP_TOPIC_PARTITIONS", "8")
    result = CliRunner().invoke(app, ["kafka", "create-topics"])
    assert result.exit_code == 0, result.output
    assert created == [("kafka:9092", list(CORE_TOPICS), 8)] * 2
    assert "Created topics on kafka:9092 (8 partitions)" in result.output


def test_options_win_over_the_environment(
    created: list[tuple[str, list[str], int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FEEDBACKLOOP_KAFKA_BOOTSTRAP", "kafka:9092")
    args = ["kafka", "create-topics", "--bootstrap", "broker:19092", "--partitions", "12"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert created[-1] == ("broker:19092", list(CORE_TOPICS), 12)


def test_it_gives_up_when_the_broker_never_answers(
    created: list[tuple[str, list[str], int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = CliRunner().invoke(app, ["kafka", "create-topics", "--wait", "0"])
    assert result.exit_code == 1
    assert "did not answer" in result.output
    # Without option or variable: the local broker of `feedbackloop kafka start`.
    assert created == [("127.0.0.1:9092", list(CORE_TOPICS), 6)]
