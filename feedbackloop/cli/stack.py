"""`feedbackloop up` and `feedbackloop status`: the whole loop on this machine."""

import csv
import signal
import threading
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import typer
from rich.console import Console
from rich.table import Table

from feedbackloop.cli.kafka import local_kafka, start_kafka
from feedbackloop.devstack.config import SERVICES, StackSettings
from feedbackloop.devstack.credentials import TOKEN_FILE
from feedbackloop.devstack.kafka import KafkaError
from feedbackloop.devstack.processes import Stack, StackError, read_state

console = Console()
BEIJING = ZoneInfo("Asia/Shanghai")


def up(
    demo: bool = typer.Option(False, help="Also feed a few real citizen messages through."),
) -> None:
    """Start Kafka (if needed) and the four services; Ctrl-C stops what this started."""
    settings = StackSettings()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    broker = local_kafka(settings)
    started_kafka = broker.pid() is None
    try:
        start_kafka(settings)
    except KafkaError as exc:
        console.print(f"[red]Kafka did not start:[/] {exc}")
        raise typer.Exit(1) from exc
    stack = Stack(settings=settings, bootstrap=broker.bootstrap)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with console.status("Starting intake, router, followup and metrics ..."):
            stack.start()
        _print_urls(settings, broker.bootstrap)
        if demo:
            run_demo(settings)
        console.print("Press Ctrl-C to stop.")
        while not stop.wait(1.0):
            dead = [name for name, proc in stack.services.items() if not proc.alive()]
            if dead:
                console.print(f"[red]{', '.join(dead)} stopped unexpectedly; see its log.[/]")
                raise typer.Exit(1)
    except StackError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    finally:
        with console.status("Stopping ..."):
            stack.stop()
            if started_kafka:
                broker.stop()
        console.print("Stopped." + ("" if started_kafka else " Kafka keeps running."))


def status() -> None:
    """Say what runs where."""
    settings = StackSettings()
    table = Table("part", "state", "where")
    kafka = local_kafka(settings).status()
    table.add_row("kafka", _state(kafka.running), kafka.bootstrap)
    recorded = read_state(settings)
    for name in SERVICES:
        url = str(recorded.get(name, {}).get("url", settings.url_of(name)))
        try:
            healthy = httpx.get(f"{url}/healthz", timeout=2).json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            healthy = False
        table.add_row(name, _state(healthy), url)
    console.print(table)


def _state(ok: bool) -> str:
    return "[green]running[/]" if ok else "[red]not running[/]"


def _print_urls(settings: StackSettings, bootstrap: str) -> None:
    table = Table("part", "URL", title="feedbackloop is running")
    table.add_row("Kafka", bootstrap)
    table.add_row("intake API", f"{settings.url_of('intake')}/api/v1/feedback (docs: /docs)")
    table.add_row("router", f"{settings.url_of('router')}/healthz")
    table.add_row("followup API", f"{settings.url_of('followup')}/api/v1/tickets/<ticket_no>")
    table.add_row("metrics", f"{settings.url_of('metrics')}/metrics")
    table.add_row("signals (hotspots)", f"{settings.url_of('signals')}/healthz")
    table.add_row("department workbench", f"{settings.url_of('followup')}/workbench")
    table.add_row("operator console", f"{settings.url_of('router')}/console")
    table.add_row("三率 league table", f"{settings.url_of('metrics')}/rates")
    table.add_row("logs", str((settings.state_dir / "logs").resolve()))
    table.add_row("simulated call centre's token", str((settings.state_dir / TOKEN_FILE).resolve()))
    console.print(table)


def demo_messages(data_dir: Path, count: int = 5) -> list[dict[str, str]]:
    """A few real messages, spread over the file, as intake API bodies."""
    with (data_dir / "messages_unlabelled.csv").open(encoding="utf-8", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if 5 <= len(row["detail"].strip()) <= 1500]
    step = max(len(rows) // count, 1)
    return [
        {"title": row["subject"].strip()[:100], "text": row["detail"].strip()}
        for row in rows[::step][:count]
    ]


def run_demo(settings: StackSettings) -> None:
    """Post a few real messages and show where each one landed."""
    table = Table("ticket", "title", "department", "due (Beijing time)", title="Demo tickets")
    with httpx.Client(timeout=10) as client:
        for body in demo_messages(settings.data_dir):
            accepted = client.post(f"{settings.url_of('intake')}/api/v1/feedback", json=body)
            accepted.raise_for_status()
            ticket_no, link = accepted.json()["ticket_no"], accepted.json()["status_url"]
            ticket = _wait_for_ticket(client, settings.url_of("followup"), ticket_no, link)
            table.add_row(
                ticket_no,
                body["title"][:24],
                ticket["department_name"] if ticket else "(not yet routed)",
                _beijing(ticket["due_at"]) if ticket else "",
            )
    console.print(table)


def _beijing(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _wait_for_ticket(
    client: httpx.Client, base: str, ticket_no: str, status_url: str
) -> dict[str, str] | None:
    # The status link's secret shows the deadline; the number alone only state and unit.
    secret = parse_qs(urlsplit(status_url).query).get("k", [""])[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        reply = client.get(f"{base}/api/v1/tickets/{ticket_no}", params={"k": secret})
        if reply.status_code == 200:
            return dict(reply.json())
        time.sleep(0.2)
    return None
