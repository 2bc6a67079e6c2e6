"""A stream batch is committed only once the broker has all of its outputs."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from feedbackloop.runtime.streams import commit_processed


class Consumer:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def commit(self) -> None:
        self.log.append("commit")


class Stream:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def ack(self, event: Any) -> None:
        self.log.append(f"ack {event}")


def test_offsets_are_committed_after_the_outputs_are_delivered() -> None:
    log: list[str] = []

    async def run() -> None:
        loop = asyncio.get_running_loop()
        receipt = loop.create_future()

        def broker_has_it() -> None:
            log.append("delivered")
            receipt.set_result(None)

        loop.call_later(0.05, broker_has_it)
        app = SimpleNamespace(consumer=Consumer(log))
        await commit_processed(app, Stream(log), ["a", "b"], [receipt, None])  # type: ignore[arg-type]

    asyncio.run(run())
    assert log == ["delivered", "ack a", "ack b", "commit"]


def test_a_failed_output_leaves_the_batch_uncommitted() -> None:
    log: list[str] = []

    async def run() -> None:
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("broker gone"))
        app = SimpleNamespace(consumer=Consumer(log))
        await commit_processed(app, Stream(log), ["a"], [failed])  # type: ignore[arg-type]

    with pytest.raises(ConnectionError):
        asyncio.run(run())
    assert log == []  # replayed after a restart; consumers drop the copies by event id
