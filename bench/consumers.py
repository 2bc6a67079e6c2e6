"""Followup's ticket opening and metrics' fold, each on its own, against a real broker.

Preloads `feedback.received` and `feedback.routed` with the records the router would have
written for real citizen messages (routed to the router table's departments), then:

1. starts one followup process and times it until every routing decision is a stored ticket
   (tickets/s) and the ticket events are published (its outbox is empty);
2. stops it and starts one metrics process, which folds the whole log from the beginning
   (the preloaded records and followup's ticket events): records folded/s until caught up.

Each service runs alone, so its CPU per item is its own.

    .venv/bin/python -m bench.consumers [--items 5000] [--postgres]
"""

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from kafka import KafkaProducer
from sqlalchemy import func, select

from bench.router import raw_texts
from bench.stack import Measured, broker, database_env, now, service_env, stores, write_result
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import Fleet
from feedbackloop.events import (
    Channel,
    FeedbackReceived,
    FeedbackRouted,
    Priority,
    RoutingMethod,
    encode,
    new_event,
)
from feedbackloop.events.topics import FEEDBACK_RECEIVED, FEEDBACK_ROUTED
from feedbackloop.runtime.sql import create_store, engine_of
from services.followup.models import OutboxMessage, Ticket
from services.router.config import DEFAULT_RULES
from services.router.rules import load_rule_table


def preload(bootstrap: str, rows: list[tuple[str, str]], items: int, seed: int) -> None:
    """`items` received items and their routing decisions, as intake and the router write them."""
    departments = list(load_rule_table(DEFAULT_RULES).departments.items())
    rng = random.Random(seed)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    at = now()
    for n in range(items):
        title, text = rows[n % len(rows)]
        ticket_id = str(uuid.uuid4())
        item = FeedbackReceived(
            ticket_id=ticket_id,
            ticket_no=f"26112210{n:05d}",
            channel=Channel.WEB,
            received_at=at,
            title=title or None,
            text=text,
        )
        code, name = rng.choice(departments)
        decision = FeedbackRouted(
            feedback=item,
            department_code=code,
            department_name=name,
            method=RoutingMethod.MODEL,
            confidence=0.9,
            priority=Priority.NORMAL,
            routed_at=at,
        )
        key = ticket_id.encode()
        received = new_event(data=item, source="/intake", subject=ticket_id)
        routed = new_event(data=decision, source="/router", subject=ticket_id)
        producer.send(FEEDBACK_RECEIVED, key=key, value=encode(received))
        producer.send(FEEDBACK_ROUTED, key=key, value=encode(routed))
    producer.flush()
    producer.close()


def rate_until(progress: Callable[[], int], goal: int, *, timeout: float) -> tuple[float, int]:
    """Items/s from the first look until `progress()` reaches `goal`, and the items timed.

    Items done before the first look (while the service was starting) are not counted.
    """
    started = time.perf_counter()
    first = progress()
    while time.perf_counter() - started < timeout:
        done = progress()
        if done >= goal:
            return (done - first) / (time.perf_counter() - started), done - first
        time.sleep(0.1)
    raise RuntimeError(f"only {progress()} of {goal} done in {timeout} s")


def stored(database_url: str) -> tuple[Callable[[], int], Callable[[], int], Callable[[], None]]:
    """Counters of followup's tickets and unsent outbox rows, and how to close them."""
    sessions = create_store(database_url)

    def count(statement: object) -> int:
        with sessions() as session:
            return int(session.execute(statement).scalar_one())  # type: ignore[call-overload]

    tickets = select(func.count()).select_from(Ticket)
    pending = select(func.count()).where(OutboxMessage.sent_at.is_(None))
    return (lambda: count(tickets)), (lambda: count(pending)), engine_of(sessions).dispose


def open_tickets(env: dict[str, str], state: Path, items: int) -> dict[str, object]:
    fleet = Fleet(env=env, logs=state / "logs", counts={"followup": 1})
    tickets, pending, close = stored(env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"])
    fleet.start()
    measured = Measured(fleet)
    try:
        with measured.stretch():
            rate, timed = rate_until(tickets, items, timeout=1800)
            started = time.perf_counter()
            while pending() > 0:
                time.sleep(0.1)
            published = time.perf_counter() - started
    finally:
        fleet.stop()
        close()
    return {
        "tickets_per_second": round(rate, 1),
        "tickets_timed": timed,
        "outbox_drained_seconds_after_last_ticket": round(published, 2),
        **measured.figures(timed),
    }


def fold(env: dict[str, str], state: Path) -> dict[str, object]:
    fleet = Fleet(env=env, logs=state / "logs", counts={"metrics": 1})
    fleet.start()
    url = fleet.url("metrics")

    def health() -> dict[str, object]:
        body: dict[str, object] = httpx.get(f"{url}/healthz", timeout=10).json()
        return body

    def folded() -> int:
        # Caught up means every record on the log when it started; until then, not done.
        body = health()
        return int(body["records"]) if body["caught_up"] else -1  # type: ignore[call-overload]

    measured = Measured(fleet)
    try:
        with measured.stretch():
            started = time.perf_counter()
            first = int(health()["records"])  # type: ignore[call-overload]
            while (done := folded()) < 0:
                if time.perf_counter() - started > 1800:
                    raise RuntimeError("metrics did not catch up with the log in 1800 s")
                time.sleep(0.1)
            seconds = time.perf_counter() - started
    finally:
        fleet.stop()
    return {
        "records_on_log": done,
        "records_per_second": round((done - first) / seconds, 1),
        "records_timed": done - first,
        **measured.figures(done - first),
    }


def run(args: argparse.Namespace) -> tuple[dict[str, object], dict[str, object]]:
    settings = StackSettings()
    rows = raw_texts(settings.data_dir)
    with (
        tempfile.TemporaryDirectory(prefix="bench-consumers-") as tmp,
        broker(Path(tmp), settings) as kafka,
        stores(Path(tmp), ["followup"], postgres=args.postgres) as databases,
    ):
        state = Path(tmp)
        preload(kafka.bootstrap, rows, args.items, args.seed)
        env = service_env(kafka.bootstrap, settings) | database_env(databases.urls)
        tickets = open_tickets(env, state, args.items)
        folded = fold(env, state)
    store = "PostgreSQL" if args.postgres else "SQLite"
    suffix = "-postgresql" if args.postgres else ""
    return (
        {
            "benchmark": f"followup{suffix}",
            "what": f"one followup process opening tickets for {args.items} routing decisions "
            f"preloaded on a real broker ({store} store), until all are stored",
            "items": args.items,
            **tickets,
        },
        {
            "benchmark": "metrics",
            "what": "one metrics process folding the log from the beginning (received items, "
            "routing decisions and followup's ticket events) until caught up",
            **folded,
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2023)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL store for followup")
    parser.add_argument("--quick", action="store_true", help="a short trial: 500 items")
    args = parser.parse_args()
    if args.quick:
        args.items = 500
    for report in run(args):
        write_result(report, quick=args.quick)


if __name__ == "__main__":
    main()
