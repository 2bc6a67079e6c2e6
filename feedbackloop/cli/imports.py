"""`feedbackloop import hotline FILE.jsonl`: load a day's call transcripts into intake."""

import os
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

app = typer.Typer(help="Load items from files into a running intake.")
console = Console()


@app.command()
def hotline(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL, one call a line."),
    url: str = typer.Option(None, help="Intake base URL [env FEEDBACKLOOP_INTAKE_URL]."),
    chunk: int = typer.Option(1000, min=1, max=10_000, help="Calls per request."),
    token: str = typer.Option(
        ...,
        envvar="FEEDBACKLOOP_HOTLINE_TOKEN",
        help="The call centre's credential (feedbackloop intake add-credential).",
    ),
) -> None:
    """Post call transcripts in chunks; print what was accepted and which lines were not."""
    base = url or os.environ.get("FEEDBACKLOOP_INTAKE_URL", "http://127.0.0.1:8001")
    headers = {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"}
    lines = path.read_bytes().split(b"\n")
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    rejected: list[tuple[int, str]] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with (
        httpx.Client(base_url=base, timeout=300) as client,
        Progress(*columns, TimeRemainingColumn(), console=console) as progress,
    ):
        task = progress.add_task("calls", total=len(lines))
        for offset in range(0, len(lines), chunk):
            part = lines[offset : offset + chunk]
            try:
                reply = _post(client, b"\n".join(part), headers)
            except httpx.HTTPError as exc:
                console.print(f"[red]Cannot reach intake at {base}: {exc}[/]")
                raise typer.Exit(2) from exc
            if reply.status_code == 401:
                console.print("[red]Intake refused the credential: check --token.[/]")
                raise typer.Exit(2)
            if reply.status_code != 200:
                console.print(f"[red]Intake answered {reply.status_code}: {reply.text[:500]}[/]")
                raise typer.Exit(2)
            report = reply.json()
            for key in totals:
                totals[key] += report[key]
            for result in report["results"]:
                if result["status"] == "rejected":
                    messages = "; ".join(e["message"] for e in result["errors"])
                    rejected.append((offset + result["line"], messages))
            progress.advance(task, len(part))
    console.print(
        f"accepted {totals['accepted']}, duplicates {totals['duplicates']}, "
        f"rejected {totals['rejected']}"
    )
    for line, messages in rejected:
        console.print(f"  line {line}: {messages}")
    if rejected:
        raise typer.Exit(1)


def _post(client: httpx.Client, body: bytes, headers: dict[str, str]) -> httpx.Response:
    """One batch, sent again after the wait a 429 asks for (the centre's per-minute limit)."""
    while True:
        reply = client.post("/api/v1/hotline/calls:batch", content=body, headers=headers)
        retry_after = reply.headers.get("retry-after", "")
        if reply.status_code != 429 or not retry_after.isdigit():
            return reply
        console.print(f"Intake asks to wait {retry_after} s (this credential's limit) ...")
        time.sleep(min(int(retry_after), 120))
