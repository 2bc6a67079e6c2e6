"""`feedbackloop import hotline`: a JSONL file into a running intake, with a report."""

import json
from pathlib import Path

from typer.testing import CliRunner

from feedbackloop.cli import app
from services.intake.app import create_app
from services.intake.config import Settings
from tests.intake.test_hotline import call
from tests.servers import serve_in_thread


def test_a_file_is_imported_in_chunks_and_bad_lines_are_named(tmp_path: Path) -> None:
    lines = [json.dumps(call(n), ensure_ascii=False) for n in range(25)]
    lines[6] = "{broken"
    lines[19] = json.dumps(call(19, turns=[]), ensure_ascii=False)
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    intake = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'intake.db'}",
            kafka_bootstrap="127.0.0.1:1",
            relay_enabled=False,
            read_model_enabled=False,
        )
    )
    env = {"FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}"}
    added = CliRunner().invoke(app, ["intake", "add-credential", "--name", "话务系统"], env=env)
    token = added.stdout.strip().splitlines()[-1]
    with serve_in_thread(intake) as url:
        first = CliRunner().invoke(
            app, ["import", "hotline", str(path), "--url", url, "--chunk", "10", "--token", token]
        )
        again = CliRunner().invoke(
            app,
            ["import", "hotline", str(path), "--url", url],
            env={"FEEDBACKLOOP_HOTLINE_TOKEN": token},
        )
        stranger = CliRunner().invoke(
            app, ["import", "hotline", str(path), "--url", url, "--token", "abc.not-a-real-secret"]
        )

    assert first.exit_code == 1, first.output
    assert "accepted 23, duplicates 0, rejected 2" in first.output
    assert "line 7:" in first.output and "line 20:" in first.output
    assert "accepted 0, duplicates 23, rejected 2" in again.output
    assert stranger.exit_code == 2 and "refused the credential" in stranger.output


def test_an_unreachable_intake_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(call()), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["import", "hotline", str(path), "--url", "http://127.0.0.1:1", "--token", "a.b"]
    )
    assert result.exit_code == 2
    assert "Cannot reach intake" in result.output
