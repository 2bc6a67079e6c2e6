"""`feedbackloop dlq ...`: the dead letters on feedback.dlq, listed, and replayed after a fix.

A dead letter keeps the record a consumer (or intake's relay) gave up on, where it came from
and why. `list` shows the where and why, never the record: it holds a citizen's words. After
the cause is fixed, `replay` publishes the records again to the topics they came from, with
their keys. A replay never doubles an effect: every consumer drops an event id it has seen
(followup in the transaction of its effect, metrics in its window, the router's outputs carry
ids derived from the input's), so replaying a letter whose effect already happened is a no-op.
"""

import json
import re
from dataclasses import dataclass
from typing import Any

import typer

from feedbackloop.cli.kafka import bootstrap_or_local
from feedbackloop.events import DeadLetter, InvalidEvent, decode
from feedbackloop.events.topics import DEAD_LETTER

app = typer.Typer(help="Show and replay dead letters (feedback.dlq).")

BOOTSTRAP = typer.Option(
    None,
    envvar="FEEDBACKLOOP_KAFKA_BOOTSTRAP",
    help="The broker [FEEDBACKLOOP_KAFKA_BOOTSTRAP, else the local broker].",
)
#: Quoted inputs in validation errors and long digit runs (phone numbers) in a reason.
_QUOTED_INPUT = re.compile(r"""('input': )('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^,}\]]+)""")
_DIGITS = re.compile(r"\d{7,}")


@dataclass(frozen=True)
class Letter:
    """One dead letter as read from feedback.dlq."""

    id: str
    partition: int
    offset: int
    data: DeadLetter

    @property
    def event_id(self) -> str | None:
        """The id of the event it holds, if it holds a whole one."""
        try:
            value = json.loads(self.data.value)
        except ValueError:
            return None
        found = value.get("id") if isinstance(value, dict) else None
        return found if isinstance(found, str) else None


def masked(reason: str, width: int = 160) -> str:
    """A reason fit to show: quoted inputs and phone-like numbers hidden, one line, short."""
    reason = _QUOTED_INPUT.sub(r"\1…", reason)
    reason = _DIGITS.sub(lambda m: m.group()[:3] + "…", reason)
    reason = " ".join(reason.split())
    return reason if len(reason) <= width else reason[: width - 1] + "…"


def read_letters(bootstrap: str) -> list[Letter]:
    """Every dead letter on the topic, oldest first (committed records only)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="feedbackloop-dlq",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    letters: list[Letter] = []
    try:
        partitions = [
            TopicPartition(DEAD_LETTER, p)
            for p in sorted(consumer.partitions_for_topic(DEAD_LETTER) or [])
        ]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    try:
                        event = decode(record.value, expect=DeadLetter)
                    except InvalidEvent:
                        continue
                    letters.append(Letter(event.id, record.partition, record.offset, event.data))
    finally:
        consumer.close()
    return sorted(letters, key=lambda letter: letter.data.failed_at)


@app.command("list")
def list_letters(
    consumer: str | None = typer.Option(None, help="Only this consumer's, e.g. followup."),
    limit: int = typer.Option(200, min=1, help="How many of the newest to show."),
    bootstrap: str | None = BOOTSTRAP,
) -> None:
    """Show dead letters: when, who gave up, where the record came from, and why.

    The records themselves are not shown (they hold citizens' words and numbers).
    """
    letters = [
        letter
        for letter in read_letters(bootstrap_or_local(bootstrap))
        if consumer is None or letter.data.consumer == consumer
    ][-limit:]
    if not letters:
        typer.echo("No dead letters.")
        return
    for letter in letters:
        data = letter.data
        where = f"{data.topic}[{data.partition}]@{data.offset}"
        if data.partition < 0:
            where = f"{data.topic} (outbox)"
        typer.echo(
            f"{data.failed_at:%Y-%m-%d %H:%M:%S}Z  {data.consumer}  {where}  "
            f"letter={letter.id}  event={letter.event_id or '-'}  {masked(data.error)}"
        )
    typer.echo(f"{len(letters)} dead letter(s).")


@app.command()
def replay(
    ids: list[str] = typer.Option(
        [], "--id", help="A letter id or the id of the event it holds (repeatable)."
    ),
    consumer: str | None = typer.Option(None, help="Every letter of this consumer."),
    every: bool = typer.Option(False, "--all", help="Every letter."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be replayed."),
    bootstrap: str | None = BOOTSTRAP,
) -> None:
    """Publish dead-lettered records again to the topics they came from, after a fix."""
    if not (ids or consumer or every):
        raise typer.BadParameter("say which: --id ..., --consumer NAME or --all")
    target = bootstrap_or_local(bootstrap)
    wanted = set(ids)
    chosen = [
        letter
        for letter in read_letters(target)
        if every
        or (consumer is not None and letter.data.consumer == consumer)
        or letter.id in wanted
        or letter.event_id in wanted
    ]
    replayable, seen, skipped = [], set(), 0
    for letter in chosen:
        why_not = _why_not(letter)
        if why_not:
            skipped += 1
            typer.echo(f"skipped letter={letter.id}: {why_not}")
        elif letter.event_id not in seen:  # one event dead-lettered twice goes out once
            seen.add(letter.event_id)
            replayable.append(letter)
    if dry_run:
        for letter in replayable:
            typer.echo(f"would replay event={letter.event_id} to {letter.data.topic}")
        typer.echo(f"{len(replayable)} to replay, {skipped} skipped.")
        return
    failed = _publish(target, replayable)
    typer.echo(f"Replayed {len(replayable) - failed}, skipped {skipped}, failed {failed}.")
    if failed:
        raise typer.Exit(1)


def _why_not(letter: Letter) -> str | None:
    """Why a letter cannot be replayed, or None."""
    if letter.data.topic == DEAD_LETTER:
        return "it came from feedback.dlq itself"
    try:
        decode(letter.data.value.encode())
    except InvalidEvent as exc:
        return f"it holds no whole event (truncated, or still refused: {masked(str(exc), 80)})"
    return None


def _publish(bootstrap: str, letters: list[Letter]) -> int:
    """Send the letters' records and wait for the broker; how many failed."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    producer: Any = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="feedbackloop-dlq-replay",
        acks="all",
        enable_idempotence=True,
        max_request_size=2 * 1024 * 1024,
    )
    failed = 0
    try:
        sent = []
        for letter in letters:
            key = letter.data.key.encode() if letter.data.key else None
            try:
                future = producer.send(letter.data.topic, key=key, value=letter.data.value.encode())
            except (KafkaError, ValueError) as exc:
                failed += 1
                typer.echo(f"failed event={letter.event_id}: {type(exc).__name__}")
                continue
            sent.append((letter, future))
        producer.flush(timeout=30)
        for letter, future in sent:
            if future.succeeded():
                typer.echo(f"replayed event={letter.event_id} to {letter.data.topic}")
            else:
                failed += 1
                typer.echo(f"failed event={letter.event_id}: {type(future.exception).__name__}")
    finally:
        producer.close(timeout=5)
    return failed
