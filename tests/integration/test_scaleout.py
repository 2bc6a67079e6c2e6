"""Scale-out: two replicas of every service. Those in a consumer group (router, followup's
ticket opening and notifying, signals, intake's status read model) share the partitions;
metrics replicas each fold the whole loop.

Both replicas of each must do part of the work, and no item may be handled twice: one
routing decision per item across the routers, one ticket opened per item across the
followups, one record per item on the department queues, and the hotspot alerts one worker
would send (one per place and category with enough items, as counted from feedback.routed).
(That two replicas route faster than one is measured by `bench/router.py`, not asserted here.)
"""

import asyncio
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import Fleet
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.simulate.driver import replay
from feedbackloop.simulate.plan import plan_day
from services.intake.config import DEV_WECHAT_TOKEN
from tests.integration.conftest import call_centre_token, fleet_env, free_port, metric, wait_for
from tests.integration.ledger import queued, received_totals, status_rows, ticket_rows
from tests.integration.test_chaos import BURST_ITEMS, assign_triage
from tests.signals.alerts import alerts_sent, bursts_on_record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ITEMS = 600


def counter(url: str, name: str) -> float:
    """A process metric summed over its labels."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in (name, f"{name}_total")
    )


def members_with_partitions(bootstrap: str, group: str) -> int:
    """How many members of a consumer group hold partitions, once the group is stable."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group]).get(group, {})
    except KafkaError:
        return 0
    finally:
        admin.close()
    if described.get("group_state") != "Stable":
        return 0
    return sum(1 for member in described.get("members", []) if _holds_partitions(member))


def _holds_partitions(member: dict[str, Any]) -> bool:
    assignment = member.get("member_assignment")
    if not isinstance(assignment, dict):  # not the standard consumer protocol: say so
        raise AssertionError(f"cannot read the assignment of {member.get('member_id')}")
    return any(topic["partitions"] for topic in assignment.get("assigned_partitions", []))


GROUPS = (
    "feedbackloop-router",
    "feedbackloop-followup",
    "feedbackloop-followup-notify",
    "feedbackloop-signals",
    "feedbackloop-intake-status",
)


def consumed(url: str, consumer: str) -> float:
    """Records one consumer of a process has read."""
    return metric(url, "feedbackloop_consumer_records_total", {"consumer": consumer})


async def replay_halves(planned: list[Any], intakes: list[str], hotline_token: str) -> list[Any]:
    """Half the day through each intake replica, at once (as a load balancer would spread it)."""
    halves = await asyncio.gather(
        *(
            replay(
                planned[index :: len(intakes)],
                intake_url=url,
                wechat_token=DEV_WECHAT_TOKEN,
                speed=None,
                concurrency=8,
                hotline_token=hotline_token,
            )
            for index, url in enumerate(intakes)
        )
    )
    return [outcome for half in halves for outcome in half]


def test_two_replicas_of_every_consumer_share_the_work_and_handle_each_item_once(
    broker: LocalKafka, postgres: LocalPostgres, router_model: None, tmp_path: Path
) -> None:
    env = fleet_env(broker.bootstrap, postgres, f"scale{free_port()}")
    # The day's real texts name few places five times; two items make a burst here.
    env["FEEDBACKLOOP_SIGNALS_HOTSPOT_ITEMS"] = str(BURST_ITEMS)
    counts = {"intake": 2, "router": 2, "followup": 2, "metrics": 2, "signals": 2}
    fleet = Fleet(env=env, logs=tmp_path / "logs", counts=counts)
    fleet.start()
    try:
        # Healthy is not yet in the group: the load starts once both replicas of each hold
        # partitions (a fast burst would otherwise be done before the second one joins).
        for group in GROUPS:
            wait_for(
                partial(lambda g: members_with_partitions(broker.bootstrap, g) == 2, group),
                timeout=120,
                what=f"two members of {group} with partitions",
            )
        planned = plan_day(items=ITEMS, seed=11, data_dir=StackSettings().data_dir)
        intakes = [fleet.url("intake", i) for i in range(2)]
        token = call_centre_token(env["FEEDBACKLOOP_INTAKE_DATABASE_URL"])
        outcomes = asyncio.run(replay_halves(planned, intakes, token))
        accepted = {o.ticket_no for o in outcomes if o.status == "accepted"}
        assert len(accepted) == ITEMS

        routers = [fleet.url("router", i) for i in range(2)]
        followups = [fleet.url("followup", i) for i in range(2)]
        store = env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"]
        wait_for(
            lambda: set(ticket_rows(store)) >= accepted,
            timeout=180,
            what="a ticket for every item",
        )
        assigned = assign_triage(routers[0])
        wait_for(
            lambda: set(queued(broker.bootstrap)) >= accepted,
            timeout=180,
            what="every item on a department queue",
        )

        # An operator's assignment is a second routing decision for a triaged ticket.
        wait_for(
            lambda: (
                sum(counter(u, "feedbackloop_followup_routings_applied") for u in followups)
                >= ITEMS + assigned
            ),
            timeout=120,
            what="followup to apply the operators' assignments",
        )
        routed = [counter(url, "feedbackloop_router_routed") for url in routers]
        applied = [counter(url, "feedbackloop_followup_routings_applied") for url in followups]
        copies: Counter[str] = Counter()
        queues, rows = queued(broker.bootstrap, copies=copies), ticket_rows(store)
        print(
            f"routed per router {routed}, routings applied per followup {applied}, "
            f"replayed queue records {sum(copies.values())}"
        )
        assert all(n > 0 for n in routed), "a router got no partitions"
        assert all(n > 0 for n in applied), "a followup got no partitions"
        # Each item decided once by the agents (assignments are made through the API) ...
        assert sum(routed) == ITEMS
        # ... and each decision applied once.
        assert sum(applied) == ITEMS + assigned
        assert [n for n in accepted if queues[n] != 1 or rows[n] != 1] == []

        # Both intakes answer status queries for every ticket, whichever one read its events.
        wait_for(
            lambda: status_rows(env["FEEDBACKLOOP_INTAKE_DATABASE_URL"]) >= accepted,
            timeout=120,
            what="intake's status read model to hold every ticket",
        )
        read = [consumed(url, "feedbackloop-intake-status") for url in intakes]
        notified = [consumed(url, "feedbackloop-followup-notify") for url in followups]
        assert all(n > 0 for n in read), f"an intake read no ticket events: {read}"
        assert all(n > 0 for n in notified), f"a followup notified nothing: {notified}"

        # Each metrics replica folds the whole loop (no group): both count every item once.
        for index in range(2):
            wait_for(
                partial(
                    lambda i: sum(received_totals(fleet.url("metrics", i)).values()) == ITEMS, index
                ),
                timeout=120,
                what=f"metrics replica {index} to count every item once",
            )

        # Every burst on record alerted once, as one worker would have it.
        bursts = bursts_on_record(broker.bootstrap, items=BURST_ITEMS)
        wanted = Counter(dict.fromkeys(bursts, 1))
        assert len(wanted) >= 5, "too few bursts to tell"
        wait_for(
            lambda: alerts_sent(broker.bootstrap)[0] == wanted,
            timeout=120,
            what=f"one alert for each of the {len(wanted)} bursts",
        )
        counted = [
            counter(fleet.url("signals", i), "feedbackloop_signals_counted") for i in range(2)
        ]
        print(
            f"sightings counted per signals worker {counted}; alert records repeated "
            f"(same event id) {alerts_sent(broker.bootstrap)[1]}"
        )
        assert all(n > 0 for n in counted), "a signals worker got no partitions"
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{fleet.log_tails()}") from exc
    finally:
        fleet.stop()
