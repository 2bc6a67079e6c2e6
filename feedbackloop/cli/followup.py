"""`feedbackloop followup ...`: workbench credentials for departments, operators, supervisors.

The store is followup's configured one (FEEDBACKLOOP_FOLLOWUP_DATABASE_URL, else followup.db
in FEEDBACKLOOP_STATE_DIR), the one the service started with the same environment uses.
"""

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(help="Manage followup's workbench credentials.")
console = Console()


@app.command("add-credential")
def add_credential(
    name: str = typer.Option(..., help="Who it is for, e.g. 市城市管理局 or 话务员张敏"),
    role: str = typer.Option("department", help="department | operator | supervisor"),
    department: str | None = typer.Option(None, help="Department code (role department)"),
) -> None:
    """Create a credential and print its token once (only a hash is stored)."""
    from services.followup import auth

    try:
        chosen = auth.Role(role)
    except ValueError:
        raise typer.BadParameter("role is department, operator or supervisor") from None
    try:
        with _store().begin() as session:
            token = auth.create_credential(
                session=session,
                name=name,
                role=chosen,
                department_code=department,
                now=datetime.now(UTC),
            )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"Token for {name} ({chosen.value}); it is shown only now:")
    typer.echo(token)


@app.command("list-credentials")
def list_credentials() -> None:
    """Credentials by name (never their secrets)."""
    from services.followup import auth

    with _store()() as session:
        rows = auth.list_credentials(session=session)
        table = Table("id", "name", "role", "department", "created", "disabled")
        for row in rows:
            table.add_row(
                row.id,
                row.name,
                row.role,
                row.department_code or "",
                f"{row.created_at:%Y-%m-%d}",
                f"{row.disabled_at:%Y-%m-%d}" if row.disabled_at else "",
            )
    console.print(table)


def _store() -> "sessionmaker[Session]":
    from services.followup.config import get_settings
    from services.followup.database import open_store

    return open_store(get_settings().database_url)
