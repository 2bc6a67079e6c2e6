"""`feedbackloop followup ...`: workbench credentials for departments, operators, supervisors."""

from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

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
    from services.followup.config import Settings
    from services.followup.database import open_store

    try:
        chosen = auth.Role(role)
    except ValueError:
        raise typer.BadParameter("role is department, operator or supervisor") from None
    sessions = open_store(Settings().database_url)
    try:
        with sessions.begin() as session:
            token = auth.create_credential(
                session=session, name=name, role=chosen, department_code=department,
                now=datetime.now(UTC),
            )  # fmt: skip
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    console.print(f"Token for {name} ({chosen.value}); it is shown only now:")
    typer.echo(token)


@app.command("list-credentials")
def list_credentials() -> None:
    """Credentials by name (never their secrets)."""
    from services.followup import auth
    from services.followup.config import Settings
    from services.followup.database import open_store

    with open_store(Settings().database_url)() as session:
        rows = auth.list_credentials(session=session)
        table = Table("id", "name", "role", "department", "created", "disabled")
        for row in rows:
            table.add_row(
                row.id, row.name, row.role, row.department_code or "", f"{row.created_at:%Y-%m-%d}",
                f"{row.disabled_at:%Y-%m-%d}" if row.disabled_at else "",
            )  # fmt: skip
    console.print(table)
