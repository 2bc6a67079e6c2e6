"""Chaos: under load, SIGKILL each part in turn and restart it; nothing accepted is lost or doubled.

A simulated day (`feedbackloop simulate`'s plan: real texts, the channel mix, the daily curve)
is replayed through intake's real channels at a day a minute, on a broker of its own and
PostgreSQL stores. While it runs, intake, router, followup, the signals worker (faust), metrics
and then the broker are killed with SIGKILL, one at a time, and restarted. Afterwards every
accepted item must be on exactly one department queue (items the model was unsure of are
assigned by an operator first) and in exactly one ticket row, metrics must count exactly the
accepted items per channel, and every burst on feedback.routed must have exactly one hotspot
alert (by event id: a replayed alert keeps its id, and consumers drop the copy).
"""

import asyncio
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import Fleet
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.simulate.driver import Outcome, replay
from feedbackloop.simulate.plan import plan_day
from services.intake.config import DEV_WECHAT_TOKEN
from services.router.config import DEV_OPERATOR_TOKEN
from tests.integration.conftest import call_centre_token, fleet_env, free_port, wait_for
from tests.integration.ledger import queued, received_totals, ticket_rows
from tests.signals.alerts import alerts_sent, bursts_on_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

ITEMS = 1200
#: Day seconds per wall second: the day's curve in about 70 s.
SPEED = 1200.0
#: Seconds into the load at which each part is killed and restarted.
CHAOS = [(8, "intake"), (18, "router"), (28, "followup"), (38, "metrics"), (48, "broker")]
#: The signals worker is killed by a monkey of its own, at the day's busiest hour: the parts
#: before it take a while to come back, and the sequence would reach it after the load.
SIGNALS_CHAOS = [(35, "signals")]
#: Items of one category about one place that make a hotspot in these runs: the day's real
#: texts name few places five times.
BURST_ITEMS = 2
OPERATOR = {"Authorization": f"Bearer {DEV_OPERATOR_TOKEN}"}


def monkey(
    fleet: Fleet,
    broker: LocalKafka,
    started: float,
    log: list[str],
    plan: list[tuple[int, str]] = CHAOS,
) -> None:
    """Kill and restart each part of the plan at its moment of the run."""
    for at, part in plan:
        while time.monotonic() < started + at:
            time.sleep(0.05)
        killed_at = time.monotonic() - started
        starts = 1
        if part == "broker":
            broker.kill()
            broker.start(timeout=120)
        else:
            fleet.kill(part)
            starts = fleet.restart(part)
        back = time.monotonic() - started - killed_at
        log.append(
            f"{killed_at:5.1f} s: {part} killed; healthy again after {back:.1f} s "
            f"({starts} start(s))"
        )


def assign_triage(router_url: str) -> int:
    """Assign every item waiting in triage to the model's first choice; how many."""
    assigned = 0
    while items := httpx.get(f"{router_url}/api/v1/triage", headers=OPERATOR, timeout=30).json():
        for item in items:
            choice = {
                "department_code": item["candidates"][0]["department_code"],
                "operator": "混沌测试",
            }
            reply = httpx.post(
                f"{router_url}/api/v1/triage/{item['ticket_no']}/assign",
                json=choice,
                headers=OPERATOR,
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assigned += 1
    return assigned


def test_killing_each_part_under_load_loses_and_duplicates_nothing(
    broker: LocalKafka, postgres: LocalPostgres, router_model: None, tmp_path: Path
) -> None:
    env = fleet_env(broker.bootstrap, postgres, f"chaos{free_port()}")
    env["FEEDBACKLOOP_SIGNALS_HOTSPOT_ITEMS"] = str(BURST_ITEMS)
    fleet = Fleet(env=env, logs=tmp_path / "logs")
    fleet.start()
    hotline_token = call_centre_token(env["FEEDBACKLOOP_INTAKE_DATABASE_URL"])
    planned = plan_day(items=ITEMS, seed=7, data_dir=StackSettings().data_dir)
    chaos_log: list[str] = []
    try:
        started = time.monotonic()
        chaos = threading.Thread(target=monkey, args=(fleet, broker, started, chaos_log))
        signals = threading.Thread(
            target=monkey, args=(fleet, broker, started, chaos_log, SIGNALS_CHAOS)
        )
        chaos.start()
        signals.start()
        outcomes: list[Outcome] = asyncio.run(
            replay(
                planned,
                intake_url=fleet.url("intake"),
                wechat_token=DEV_WECHAT_TOKEN,
                speed=SPEED,
                concurrency=16,
                give_up=180,
                hotline_token=hotline_token,
            )
        )
        chaos.join()
        signals.join()
        accepted = {o.ticket_no: o for o in outcomes if o.status == "accepted" and o.ticket_no}
        refused = [o for o in outcomes if o.status != "accepted"]
        assert not refused, f"intake refused {len(refused)}: {refused[:3]}"
        assert len(accepted) == ITEMS, "two items were given one ticket number"

        store = env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"]
        wait_for(
            lambda: set(ticket_rows(store)) >= set(accepted),
            timeout=240,
            what="a ticket row for every accepted item",
        )
        assign_triage(fleet.url("router"))
        wait_for(
            lambda: set(queued(broker.bootstrap)) >= set(accepted),
            timeout=240,
            what="every accepted item on a department queue",
        )
        by_channel = Counter(o.channel for o in accepted.values())
        wait_for(
            lambda: received_totals(fleet.url("metrics")) == by_channel,
            timeout=240,
            what=f"metrics to count {dict(by_channel)}",
        )

        bursts = bursts_on_record(broker.bootstrap, items=BURST_ITEMS)
        try:
            wait_for(
                lambda: set(alerts_sent(broker.bootstrap)[0]) >= bursts,
                timeout=240,
                what=f"an alert for each of the {len(bursts)} bursts",
            )
        except AssertionError as timed_out:
            missing = sorted(bursts - set(alerts_sent(broker.bootstrap)[0]))
            raise AssertionError(f"{timed_out}; no alert for {missing[:5]}") from None
        alerts, repeated = alerts_sent(broker.bootstrap)

        records: dict[str, list[str]] = {}
        copies: Counter[str] = Counter()
        queues, rows = queued(broker.bootstrap, records, copies), ticket_rows(store)
        lost = [n for n in accepted if queues[n] == 0 or rows[n] == 0]
        duplicated = [n for n in accepted if queues[n] > 1 or rows[n] > 1]
        strays = set(queues) - set(accepted)
        print("\n".join(chaos_log))
        print(
            f"accepted {len(accepted)} / lost {len(lost)} / duplicated {len(duplicated)}; "
            f"retried requests {sum(o.attempts > 1 for o in outcomes)}; "
            f"replayed queue records (same event id) {sum(copies.values())}"
        )
        for n in duplicated[:5]:
            print(n, rows[n], records.get(n))
        lost_alerts = sorted(bursts - set(alerts))
        doubled_alerts = sorted(key for key, n in alerts.items() if n > 1)
        stray_alerts = sorted(set(alerts) - bursts)
        print(
            f"hotspot alerts: bursts {len(bursts)} / lost {len(lost_alerts)} / duplicated "
            f"{len(doubled_alerts)}; replayed alert records (same event id) {repeated}"
        )
        assert len(chaos_log) == len(CHAOS) + len(SIGNALS_CHAOS)
        assert (lost, duplicated, strays) == ([], [], set())
        assert (lost_alerts, doubled_alerts, stray_alerts) == ([], [], [])
    except AssertionError as exc:
        kept = Path("artifacts/chaos-logs")
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(tmp_path / "logs", kept)
        shutil.copy(broker.log_file, kept / "kafka.log")
        raise AssertionError(f"{exc}\n{chr(10).join(chaos_log)}\n{fleet.log_tails()}") from exc
    finally:
        fleet.stop()
