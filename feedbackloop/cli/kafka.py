"""`feedbackloop kafka ...`: the local single-node broker, and the core topics on any broker."""

import time

import typer
from rich.console import Console

from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.kafka import KafkaError, LocalKafka
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics

app = typer.Typer(help="Run the local Apache Kafka broker (KRaft, one node, loopback only).")
console = Console()


def local_kafka(settings: StackSettings) -> LocalKafka:
    """The broker described by the settings."""
    return LocalKafka(
        home=(settings.state_dir / "kafka").resolve(),
        pom=settings.kafka_pom,
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        heap=settings.kafka_heap,
    )


def bootstrap_or_local(bootstrap: str | None) -> str:
    """The bootstrap given, or the local broker's (`make up`'s)."""
    return bootstrap or local_kafka(StackSettings()).bootstrap


def start_kafka(settings: StackSettings) -> LocalKafka:
    """Start the broker if needed and make sure the core topics exist."""
    broker = local_kafka(settings)
    with console.status("Starting Kafka (the first run resolves it with Maven) ..."):
        broker.start()
        created = create_topics(
            broker.bootstrap, list(CORE_TOPICS), partitions=settings.topic_partitions
        )
    console.print(f"[green]Kafka is up[/] at {broker.bootstrap} (data in {broker.home / 'data'})")
    if created:
        console.print(f"Created topics: {', '.join(created)}")
    return broker


@app.command()
def start(
    partitions: int = typer.Option(None, help="Partitions of the topics it creates."),
) -> None:
    """Start the broker (if it is not running), wait until it answers, create the topics."""
    settings = StackSettings()
    if partitions:
        settings = settings.model_copy(update={"topic_partitions": partitions})
    try:
        start_kafka(settings)
    except KafkaError as exc:
        console.print(f"[red]Kafka did not start:[/] {exc}")
        raise typer.Exit(1) from exc


@app.command("create-topics")
def create_core_topics(
    bootstrap: str = typer.Option(
        None,
        envvar="FEEDBACKLOOP_KAFKA_BOOTSTRAP",
        help="Broker to create them on [FEEDBACKLOOP_KAFKA_BOOTSTRAP, else the local broker].",
    ),
    partitions: int = typer.Option(
        None, min=1, help="Partitions of each topic [FEEDBACKLOOP_TOPIC_PARTITIONS, 6]."
    ),
    wait: float = typer.Option(60.0, min=0, help="Seconds to wait for the broker to answer."),
) -> None:
    """Create the core topics on a running broker (e.g. in containers); existing ones stay."""
    from kafka.errors import KafkaError as ClientError

    settings = StackSettings()
    target = bootstrap or local_kafka(settings).bootstrap
    count = partitions or settings.topic_partitions
    deadline = time.monotonic() + wait
    while True:
        try:
            created = create_topics(target, list(CORE_TOPICS), partitions=count)
            break
        except ClientError as exc:  # the broker is still starting, or unreachable
            if time.monotonic() >= deadline:
                console.print(f"[red]Kafka at {target} did not answer:[/] {exc}")
                raise typer.Exit(1) from exc
            time.sleep(2)
    if created:
        console.print(f"Created topics on {target} ({count} partitions): {', '.join(created)}")
    else:
        console.print(f"The core topics exist on {target}.")


@app.command()
def resolve() -> None:
    """Resolve the broker's jars with Maven (done by `start` too; this only downloads)."""
    try:
        classpath = local_kafka(StackSettings()).classpath()
    except KafkaError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"Kafka resolved: {len(classpath.split(':'))} jars in the local Maven repository")


@app.command()
def tail(
    topic: str = typer.Argument(..., help="e.g. feedback.routed or queue.water"),
    limit: int = typer.Option(10, help="How many of the newest events to print."),
) -> None:
    """Print the newest events of a topic as JSON, one per line (committed records only)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=local_kafka(StackSettings()).bootstrap,
        isolation_level="read_committed",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            console.print(f"[red]No topic {topic!r}.[/]")
            raise typer.Exit(1)
        consumer.assign(partitions)
        ends = consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, max(ends[tp] - limit, 0))
        records = sorted(consumer, key=lambda r: r.timestamp)[-limit:]
    finally:
        consumer.close()
    for record in records:
        typer.echo(record.value.decode(errors="replace"))


@app.command()
def stop() -> None:
    """Stop the broker; its data stays for the next start."""
    if local_kafka(StackSettings()).stop():
        console.print("Kafka stopped.")
    else:
        console.print("Kafka was not running.")


@app.command()
def status() -> None:
    """Say whether the broker runs and where."""
    state = local_kafka(StackSettings()).status()
    if state.running:
        console.print(
            f"[green]running[/] pid {state.pid} at {state.bootstrap}, data in {state.home}"
        )
    else:
        console.print(f"[yellow]not running[/] (would listen on {state.bootstrap})")
        raise typer.Exit(3)
