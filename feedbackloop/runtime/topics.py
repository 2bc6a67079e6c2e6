"""Creating the topics a service reads and writes (the brokers do not create them on use)."""

import contextlib
from collections.abc import Mapping, Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin import NewTopic as AsyncNewTopic
from aiokafka.errors import TopicAlreadyExistsError as AsyncTopicAlreadyExists
from aiokafka.errors import for_code
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def create_topics(
    bootstrap: str, names: list[str], *, partitions: int, replication: int = 1
) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    try:
        missing = sorted(set(names) - set(admin.list_topics()))
        if missing:
            # Another process may create them meanwhile.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(n, partitions, replication) for n in missing])
        return missing
    finally:
        admin.close()


async def ensure_topics(
    bootstrap: str,
    names: Sequence[str],
    *,
    partitions: int,
    replication: int = 1,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """`create_topics` on aiokafka's admin client, for services on the event loop.

    Asynchronous, so a service stopping while the broker is away is not held up by a thread
    still trying to reach it. `configs` gives topic settings by name (a changelog's
    compaction, say); a topic that already exists keeps its own.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        await admin.start()
        missing = sorted(set(names) - set(await admin.list_topics()))
        configs = configs or {}
        if missing:
            response = await admin.create_topics(
                [
                    AsyncNewTopic(
                        n, partitions, replication, topic_configs=dict(configs.get(n, {}))
                    )
                    for n in missing
                ]
            )
            for topic, code, *_ in response.topic_errors:
                # Another process may create them meanwhile.
                if code and code != AsyncTopicAlreadyExists.errno:
                    raise for_code(code)(f"creating topic {topic}")
        return missing
    finally:
        await admin.close()
