"""Creating the topics a service reads and writes (the brokers do not create them on use)."""

import contextlib

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
