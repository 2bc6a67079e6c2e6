"""The signals worker: a faust app run by faust's own Worker.

Its web server (faust's, on loopback) answers /healthz and /metrics; faust starts it only once
the table is recovered from its changelog, so a healthy worker counts from the right state.
"""

import asyncio
import importlib.util
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from feedbackloop.events.topics import FEEDBACK_HOTSPOTS, FEEDBACK_ROUTED
from feedbackloop.runtime.topics import ensure_topics
from services.signals.agents import Rules, SignalMetrics, register
from services.signals.config import Settings
from services.signals.surges import SurgeRules
from services.signals.tables import BURSTS, TRENDS, bursts_table, trends_table
from services.signals.topics import hotspots_topic, mentions_topic, routed_topic, sightings_topic

log = logging.getLogger(__name__)


def _store() -> str:
    """RocksDB keeps a table on disk between starts, if a binding is installed (faust takes
    either); memory reads the table back from its changelog at every start."""
    if any(importlib.util.find_spec(name) for name in ("rocksdict", "rocksdb")):
        return "rocksdb://"
    return "memory://"


def create_app(settings: Settings) -> faust.App:
    """The faust app with its topics, table, agents and web pages."""
    # Each worker its own folder (several may run on one machine, as in the fleet).
    datadir = Path(tempfile.gettempdir()) / "feedbackloop-faust" / f"signals-{settings.port}"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker="kafka://" + settings.kafka_bootstrap.replace(",", ";"),
        processing_guarantee=settings.processing_guarantee,
        store=_store(),
        datadir=str(datadir),
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        # A worker that dies hands its partitions on after this long, not faust's minute.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        web_enabled=True,
        web_bind=settings.host,
        web_host=settings.host,
        web_port=settings.port,
        web_in_thread=False,
    )
    metrics = SignalMetrics()
    bursts = bursts_table(app, partitions=settings.topic_partitions)
    trends = trends_table(app, partitions=settings.topic_partitions)
    register(
        app,
        routed=routed_topic(app),
        sightings=sightings_topic(app, partitions=settings.topic_partitions),
        hotspots=hotspots_topic(app),
        bursts=bursts,
        rules=Rules(
            items=settings.hotspot_items, window_seconds=settings.hotspot_window_hours * 3600
        ),
        metrics=metrics,
        mentions=mentions_topic(app, partitions=settings.topic_partitions),
        trends=trends,
        surge_rules=surge_rules(settings),
    )

    @app.page("/healthz")
    async def healthz(self: Any, _request: Any) -> Any:
        assigned = app.consumer.assignment() if app.consumer else set()
        return self.json(
            {
                "status": "ok",
                "rebalancing": bool(app.rebalancing),
                "partitions": sorted(f"{tp.topic}:{tp.partition}" for tp in assigned),
                "places": len(bursts),
                "trends": len(trends),
                "processing_guarantee": settings.processing_guarantee,
            }
        )

    @app.page("/metrics")
    async def metrics_page(self: Any, _request: Any) -> Any:
        # In the headers: aiohttp refuses a charset in its content_type argument.
        return self.bytes(
            generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    return app


def surge_rules(settings: Settings) -> SurgeRules:
    """What makes a surge, from the settings."""
    return SurgeRules(
        weeks=settings.surge_weeks,
        min_items=(
            ("category", settings.surge_min_category),
            ("district", settings.surge_min_district),
            ("place", settings.surge_min_place),
        ),
        ratio=settings.surge_ratio,
        p_value=settings.surge_p_value,
    )


def create_topics(settings: Settings) -> None:
    """Make the topics the agents subscribe to, waiting for the broker.

    faust would make its through topic and changelog itself, but a consumer that subscribes
    before a topic exists ignores it until its next metadata refresh (minutes): the sightings
    would wait unread, and with two workers starting at once the second saw the changelog with
    no partitions and stopped (faust's PartitionsMismatch). The changelog gets the compaction
    faust would give it.
    """
    changelogs = [f"{settings.app_id}-{table}-changelog" for table in (BURSTS, TRENDS)]
    through = [f"{settings.app_id}-sightings", f"{settings.app_id}-mentions"]
    names = [FEEDBACK_ROUTED, FEEDBACK_HOTSPOTS, *through, *changelogs]
    configs = {changelog: {"cleanup.policy": "compact"} for changelog in changelogs}
    pause = 0.5
    while True:
        try:
            asyncio.run(
                ensure_topics(
                    settings.kafka_bootstrap,
                    names,
                    partitions=settings.topic_partitions,
                    configs=configs,
                )
            )
            return
        except Exception as exc:  # the broker is not there yet: keep trying
            log.warning(
                "signals waiting for Kafka at %s: %s", settings.kafka_bootstrap, type(exc).__name__
            )
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def run(settings: Settings) -> None:
    """Run the worker until SIGTERM or SIGINT (faust's Worker handles both)."""
    create_topics(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel="warning", redirect_stdouts=False)
    worker.execute_from_commandline()
