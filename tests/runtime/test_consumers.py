"""ConsumerService: connection retries while the broker is away, the same /healthz fields and
Prometheus series for every consumer, and a lifespan that starts and stops services in order."""

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry

from feedbackloop.runtime.batches import BatchLoop
from feedbackloop.runtime.consumers import ConsumerCollector, ConsumerService, lifespan_of
from feedbackloop.runtime.producer import KafkaPublisher, Output
from tests.runtime.test_batches import TOPIC, Echo, FakeConsumer, FakePublisher, until, values

P0 = TopicPartition(TOPIC, 0)


class EndsKnown(FakeConsumer):
    """A fake consumer that also knows each partition's high-water mark."""

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.logs[partition])


class Publisher(FakePublisher):
    """A fake publisher with the start and stop of `KafkaPublisher`."""

    def __init__(self) -> None:
        super().__init__()
        self.running = False

    async def start(self) -> None:
        self.running = True

    async def stop(self) -> None:
        self.running = False

    async def send_many(self, outputs: Sequence[Output]) -> list[Awaitable[Any]]:
        assert self.running, "published before the publisher started"
        return await super().send_many(outputs)


class OnFakes(ConsumerService):
    """The service with its loop on a fake consumer."""

    def __init__(self, consumer: EndsKnown, handler: Echo, publisher: Publisher) -> None:
        super().__init__(
            name="test-consumer",
            bootstrap="127.0.0.1:1",
            handlers={TOPIC: handler},
            group="test-group",
            publisher=cast(KafkaPublisher, publisher),
        )
        # No topics to make: the fake broker has them.
        self._topics = []
        self._consumer = consumer

    def _new_loop(self) -> BatchLoop:
        return BatchLoop(
            consumer=self._consumer,
            publisher=self.publisher,
            handlers=self._handlers,
            fetch_timeout_ms=5,
        )


def samples(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.labels.get("consumer") == "test-consumer"
    }


def test_health_and_metrics_follow_the_loop_from_start_to_stop() -> None:
    consumer, publisher, echo = EndsKnown({P0: values(4)}), Publisher(), Echo()
    service = OnFakes(consumer, echo, publisher)
    registry = CollectorRegistry()
    registry.register(ConsumerCollector(service))

    assert service.health() == {"status": "starting", "kafka": "connecting"}
    assert samples(registry)["feedbackloop_consumer_up"] == 0.0
    assert "feedbackloop_consumer_pending_records" not in samples(registry)

    async def run() -> tuple[dict[str, Any], dict[str, float]]:
        await service.start()
        await until(lambda: consumer.committed == {P0: 4})
        health, metrics = service.health(), samples(registry)
        await service.stop()
        return health, metrics

    health, metrics = asyncio.run(run())
    assert health["status"] == "ok" and health["kafka"] == "connected"
    assert health["records"] == 4 and health["failures"] == 0 and health["lag"] == 0
    assert {"batches", "last_error", "retry_in_seconds", "rebalances"} <= set(health)
    assert metrics["feedbackloop_consumer_up"] == 1.0
    assert metrics["feedbackloop_consumer_records_total"] == 4
    assert metrics["feedbackloop_consumer_batches_total"] == health["batches"] >= 1
    assert metrics["feedbackloop_consumer_pending_records"] == 0
    assert metrics["feedbackloop_consumer_failures_total"] == 0
    assert [o.value for o in publisher.sent] == values(4)
    assert not publisher.running  # stopped with the loop


def test_the_service_keeps_trying_while_the_broker_is_away_and_stops_cleanly() -> None:
    service = ConsumerService(
        name="test-consumer",
        bootstrap="127.0.0.1:1",  # nothing listens there
        handlers={TOPIC: Echo()},
        group="test-group",
    )

    async def run() -> dict[str, Any]:
        await service.start()
        await until(lambda: service.waiting_for is not None, timeout=60)
        health = service.health()
        await service.stop()
        return health

    health = asyncio.run(run())
    assert health["status"] == "starting"
    assert health["kafka"].startswith("Kafka at 127.0.0.1:1")
    assert not service.running


def test_a_lifespan_starts_services_in_order_and_stops_them_in_reverse() -> None:
    calls: list[str] = []

    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

        async def start(self) -> None:
            calls.append(f"start {self.name}")

        async def stop(self) -> None:
            calls.append(f"stop {self.name}")

    lifespan = lifespan_of(Named("a"), Named("b"))

    async def run() -> None:
        async with lifespan(None):
            calls.append("serving")

    asyncio.run(run())
    assert calls == ["start a", "start b", "serving", "stop b", "stop a"]
