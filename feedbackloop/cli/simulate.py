"""`feedbackloop simulate`: plan a day of 12345 traffic and replay it through a running stack."""

import asyncio
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.credentials import recorded_hotline_token
from feedbackloop.simulate.actors import Credentials, act
from feedbackloop.simulate.driver import Outcome, replay
from feedbackloop.simulate.plan import ANSWERS, CHANNELS, Mix, plan_day

console = Console()

#: intake's development WeChat token; a deployment's comes from its settings.
DEV_WECHAT_TOKEN = "feedbackloop-dev-token"


def _mix(text: str, allowed: tuple[str, ...]) -> Mix:
    try:
        return Mix.parse(text, allowed=allowed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def simulate(
    items: int = typer.Option(1000, min=1, help="How many items the day has"),
    seed: int = typer.Option(1, help="Same seed, same day"),
    truth: Path | None = typer.Option(
        None, help="Ground truth (JSONL) [simulate/truth.jsonl in FEEDBACKLOOP_STATE_DIR]"
    ),
    channels: str = typer.Option("hotline=45,wechat=35,web=20", help="Channel mix"),
    survey: str = typer.Option(
        "satisfied=70,basically=15,dissatisfied=8,none=7", help="Callback survey answers"
    ),
    intake: str | None = typer.Option(
        None, help="Replay through this intake (e.g. http://127.0.0.1:8001); omit to only plan"
    ),
    speed: float = typer.Option(
        0, min=0, help="Day seconds per wall second (1440: a day in a minute); 0: at once"
    ),
    concurrency: int = typer.Option(32, min=1, max=1000, help="Requests in flight"),
    wechat_token: str = typer.Option(DEV_WECHAT_TOKEN, help="intake's WeChat token"),
    hotline_token: str | None = typer.Option(
        None,
        envvar="FEEDBACKLOOP_HOTLINE_TOKEN",
        help="The call centre's credential [the one `feedbackloop up` made]",
    ),
    followup: str | None = typer.Option(
        None, help="Act out departments and surveys through this followup (needs --credentials)"
    ),
    credentials: Path | None = typer.Option(
        None, help='JSON: {"operator": token, "departments": {code: token}}'
    ),
    act_speed: float = typer.Option(
        86400.0, min=1, help="Speed-up of the departments' delays (86400: a day per second)"
    ),
    data_dir: Path | None = typer.Option(None, help="Citizen messages [../shared/data]"),
) -> None:
    """Plan a day (channel mix, arrival curve, real texts and reply delays, survey answers)."""
    settings = StackSettings()
    planned = plan_day(
        items=items,
        seed=seed,
        data_dir=data_dir or settings.data_dir,
        channels=_mix(channels, CHANNELS),
        survey=_mix(survey, ANSWERS),
    )
    outcomes: dict[int, Outcome] = {}
    if intake:
        with Progress(console=console) as progress:
            task = progress.add_task("replaying", total=len(planned))

            def seen(outcome: Outcome) -> None:
                progress.advance(task)

            result = asyncio.run(
                replay(
                    planned,
                    intake_url=intake,
                    wechat_token=wechat_token,
                    speed=speed or None,
                    concurrency=concurrency,
                    on_outcome=seen,
                    hotline_token=hotline_token or recorded_hotline_token(settings.state_dir),
                )
            )
        outcomes = {o.n: o for o in result}
    if followup and outcomes:
        if credentials is None:
            raise typer.BadParameter("--followup needs --credentials")
        work = [
            (item, outcomes[item.n].ticket_no or "")
            for item in planned
            if outcomes[item.n].status == "accepted"
        ]
        with console.status(f"departments and citizens at work ({len(work)} tickets) ..."):
            acted = asyncio.run(
                act(
                    work,
                    followup_url=followup,
                    speed=act_speed,
                    credentials=Credentials.from_json(json.loads(credentials.read_text())),
                )
            )
        console.print(f"acted out through {followup}: {dict(acted)}")
    truth = truth or settings.state_dir / "simulate" / "truth.jsonl"
    truth.parent.mkdir(parents=True, exist_ok=True)
    with truth.open("w", encoding="utf-8") as out:
        for item in planned:
            row = asdict(item)
            if item.n in outcomes:
                outcome = outcomes[item.n]
                row.update(
                    ticket_no=outcome.ticket_no,
                    status=outcome.status,
                    attempts=outcome.attempts,
                    error=outcome.error,
                )
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    console.print(f"{len(planned)} items planned: {dict(Counter(i.channel for i in planned))}")
    if outcomes:
        statuses = Counter(o.status for o in outcomes.values())
        console.print(f"replayed through {intake}: {dict(statuses)}")
    console.print(f"ground truth: {truth}")
    if outcomes and any(o.status != "accepted" for o in outcomes.values()):
        raise typer.Exit(1)
