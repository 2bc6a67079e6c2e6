"""`feedbackloop intake ...`: credentials of call-centre systems and Open311 apps.

The store is intake's configured one (FEEDBACKLOOP_INTAKE_DATABASE_URL, else intake.db in
FEEDBACKLOOP_STATE_DIR), so run these where intake's environment is set.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(help="Manage intake's credentials (call centres, Open311 apps).")
console = Console(stderr=True)


@app.command("add-credential")
def add_credential(
    name: str = typer.Option(..., help="Whose system it is, e.g. 12345热线话务系统（A3区分中心）"),
    kind: str = typer.Option(
        "hotline",
        help="hotline (a call centre) | open311 (a civic app) | agent (a 12345 agent's sign-in "
        "to the /agent page)",
    ),
) -> None:
    """Create a credential and print its token once on stdout (only a hash is stored)."""
    from services.intake.credentials import Kind, create_credential

    try:
        chosen = Kind(kind)
    except ValueError:
        raise typer.BadParameter("kind is hotline, open311 or agent") from None
    with _store().begin() as session:
        token = create_credential(session=session, kind=chosen, name=name, now=datetime.now(UTC))
    how = {
        Kind.HOTLINE: "Authorization: Bearer <token>",
        Kind.OPEN311: "api_key=<token>",
        Kind.AGENT: "the token on the /agent sign-in page",
    }[chosen]
    console.print(f"Token for {name} ({chosen.value}, send as {how}); it is shown only now:")
    typer.echo(token)


@app.command("revoke-credential")
def revoke_credential(
    credential_id: str = typer.Argument(..., help="The id (the token's part before the dot)"),
) -> None:
    """Revoke a credential; intake refuses it from the next request on."""
    from services.intake.credentials import revoke_credential as revoke

    with _store().begin() as session:
        found = revoke(session=session, credential_id=credential_id, now=datetime.now(UTC))
    if not found:
        console.print(f"[red]No credential {credential_id!r}.[/]")
        raise typer.Exit(1)
    console.print(f"Credential {credential_id} is revoked.")


@app.command("list-credentials")
def list_credentials() -> None:
    """Credentials by kind and name (never their secrets)."""
    from services.intake.credentials import list_credentials as listed

    with _store()() as session:
        rows = listed(session=session)
    table = Table("id", "kind", "name", "created", "revoked")
    for row in rows:
        revoked = f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
        table.add_row(row.id, row.kind, row.name, f"{row.created_at:%Y-%m-%d}", revoked)
    Console().print(table)


def _store() -> "sessionmaker[Session]":
    from services.intake.config import get_settings
    from services.intake.database import create_store

    return create_store(get_settings().database_url)
