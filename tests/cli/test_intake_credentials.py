"""`feedbackloop intake add-credential | list-credentials | revoke-credential`."""

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from feedbackloop.cli import app
from feedbackloop.web.credentials import split_token
from services.intake.credentials import Kind, Systems
from services.intake.database import create_store
from services.intake.models import Credential


def test_credentials_are_added_listed_and_revoked_in_intakes_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    env = {"FEEDBACKLOOP_INTAKE_DATABASE_URL": url}
    runner = CliRunner()
    hotline = runner.invoke(app, ["intake", "add-credential", "--name", "A3区话务系统"], env=env)
    open311 = runner.invoke(
        app, ["intake", "add-credential", "--name", "市民通", "--kind", "open311"], env=env
    )
    assert hotline.exit_code == open311.exit_code == 0, hotline.output + open311.output
    token = hotline.stdout.strip().splitlines()[-1]
    app_key = open311.stdout.strip().splitlines()[-1]
    parsed = split_token(token)
    assert parsed is not None and split_token(app_key) is not None

    sessions = create_store(url)
    with sessions() as session:
        rows = {row.name: row for row in session.execute(select(Credential)).scalars()}
    assert {name: row.kind for name, row in rows.items()} == {
        "A3区话务系统": "hotline",
        "市民通": "open311",
    }
    # Only a hash is stored: the secret is nowhere in the row.
    assert parsed.secret.encode() not in rows["A3区话务系统"].secret_hash
    systems = Systems(sessions=sessions, per_minute={})
    assert systems.verify(parsed, kind=Kind.HOTLINE) is not None
    assert systems.verify(parsed, kind=Kind.OPEN311) is None  # a key opens one door only

    listed = runner.invoke(app, ["intake", "list-credentials"], env=env, terminal_width=200)
    assert "A3区话务系统" in listed.output and parsed.credential_id in listed.output
    assert parsed.secret not in listed.output

    revoked = runner.invoke(app, ["intake", "revoke-credential", parsed.credential_id], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert systems.verify(parsed, kind=Kind.HOTLINE) is None
    unknown = runner.invoke(app, ["intake", "revoke-credential", "nosuchid"], env=env)
    assert unknown.exit_code == 1 and "No credential" in unknown.output


def test_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    env = {"FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}"}
    result = CliRunner().invoke(
        app, ["intake", "add-credential", "--name", "x", "--kind", "wechat"], env=env
    )
    assert result.exit_code == 2 and "hotline, open311 or agent" in result.output


def test_an_agent_credential_signs_in_to_the_agent_page(tmp_path: Path) -> None:
    env = {"FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{tmp_path / 'intake.db'}"}
    result = CliRunner().invoke(
        app, ["intake", "add-credential", "--name", "坐席1024", "--kind", "agent"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "/agent sign-in page" in result.output
