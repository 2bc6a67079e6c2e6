"""Rendering console pages: Jinja2 with the shared macros, strict headers, the static files."""

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.staticfiles import StaticFiles

HERE = Path(__file__).parent
STATIC = HERE / "static"
BEIJING = ZoneInfo("Asia/Shanghai")

#: Only this service's own stylesheet, script and forms; no inline code, no framing.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class ConsoleLinks(BaseSettings):
    """Where the other services' console pages are, for the navigation bar."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_CONSOLE_", extra="ignore")

    router_url: str = Field(default="http://127.0.0.1:8002", description="Triage and hotspots.")
    followup_url: str = Field(
        default="http://127.0.0.1:8003", description="Workbench and extension approvals."
    )
    metrics_url: str = Field(default="http://127.0.0.1:8004", description="三率 league table.")


def local_time(moment: datetime | None) -> str:
    """A UTC moment as Beijing wall time, to the minute."""
    if moment is None:
        return "—"
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def countdown(due: datetime, now: datetime) -> str:
    """Time left until a deadline, or past it, in words ("剩余 2天3小时", "已超时 40分钟")."""
    seconds = int((due - now).total_seconds())
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        span = f"{days}天{hours}小时"
    elif hours:
        span = f"{hours}小时{mins}分钟"
    else:
        span = f"{mins}分钟"
    return f"剩余 {span}" if seconds > 0 else f"已超时 {span}"


def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal, or a dash when there is none."""
    return "—" if value is None else f"{value * 100:.1f}%"


class Pages:
    """One service's console templates (its folder first, then the shared macros)."""

    def __init__(self, folder: Path, *, links: ConsoleLinks | None = None) -> None:
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(folder), FileSystemLoader(HERE / "templates")]),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(local=local_time, percent=percent)
        self.env.globals.update(links=links or ConsoleLinks(), countdown=countdown)

    def render(
        self,
        template: str,
        /,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A page as an HTML response with the console's security headers."""
        html = self.env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def mount_static(app: FastAPI) -> None:
    """Serve the shared stylesheet and script at /static."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
