"""The pieces every benchmark shares: a broker, the services' environment, CPU and RSS.

Each benchmark starts its own broker (and stores) under a temporary folder on free loopback
ports, so runs never share state. CPU seconds and resident memory are read from /proc for
every service process (`feedbackloop.devstack.fleet`), over the measured stretch only.
"""

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import describe
from feedbackloop.devstack.config import StackSettings
from feedbackloop.devstack.fleet import Fleet, Usage, free_port, usage_of
from feedbackloop.devstack.kafka import LocalKafka
from feedbackloop.devstack.postgres import LocalPostgres
from feedbackloop.events.topics import CORE_TOPICS
from feedbackloop.runtime.topics import create_topics
from services.intake.credentials import Kind, create_credential
from services.intake.database import create_store as intake_store

RESULTS = Path(__file__).with_name("results")
PARTITIONS = 6
#: No limit a benchmark could hit: the load, not a quota, must set the pace.
UNLIMITED = "100000000"


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q <= 1) of sorted values, nearest rank."""
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


def service_env(bootstrap: str, settings: StackSettings) -> dict[str, str]:
    """What every service process of a benchmark gets."""
    env = dict(os.environ)
    env.update(
        {
            "FEEDBACKLOOP_KAFKA_BOOTSTRAP": bootstrap,
            "FEEDBACKLOOP_TOPIC_PARTITIONS": str(PARTITIONS),
            "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(settings.router_model_dir.resolve()),
            "FEEDBACKLOOP_INTAKE_RATE_LIMIT_PER_MINUTE": UNLIMITED,
            "FEEDBACKLOOP_INTAKE_HOTLINE_CALLS_PER_MINUTE": UNLIMITED,
            "FEEDBACKLOOP_LOG_LEVEL": "WARNING",
        }
    )
    return env


@contextlib.contextmanager
def broker(state: Path, settings: StackSettings, *, heap: str = "1g") -> Iterator[LocalKafka]:
    """A fresh broker with the core topics, stopped on leaving."""
    kafka = LocalKafka(
        home=state / "kafka",
        pom=settings.kafka_pom,
        port=free_port(),
        controller_port=free_port(),
        heap=heap,
    )
    kafka.start(timeout=120)
    try:
        create_topics(kafka.bootstrap, list(CORE_TOPICS), partitions=PARTITIONS)
        yield kafka
    finally:
        kafka.stop()


@dataclass(frozen=True)
class Stores:
    """A database URL per service, and the PostgreSQL server's process if there is one."""

    urls: dict[str, str]
    server_pid: int | None = None


@contextlib.contextmanager
def stores(state: Path, names: Sequence[str], *, postgres: bool) -> Iterator[Stores]:
    """A database URL per service: SQLite files under `state`, or one local PostgreSQL."""
    if not postgres:
        yield Stores({name: f"sqlite:///{state / f'{name}.db'}" for name in names})
        return
    # Its own temporary folder: the server runs as `postgres`, which cannot enter `state`.
    server = LocalPostgres(home=Path(tempfile.mkdtemp(prefix="bench-pg-")), port=free_port())
    server.start(timeout=60)
    try:
        urls = {name: server.create_database(f"bench_{name}") for name in names}
        # The postmaster's pid is the first line of its pid file; backends are its children.
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        yield Stores(urls, postmaster)
    finally:
        server.stop()
        shutil.rmtree(server.home, ignore_errors=True)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every live descendant (a PostgreSQL server's backends)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone while we looked
    family, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    total = 0.0
    for member in family:
        try:
            total += usage_of(member).cpu_seconds
        except (OSError, ValueError, IndexError):
            continue
    return total


def database_env(urls: dict[str, str]) -> dict[str, str]:
    """The services' database settings for these URLs."""
    return {f"FEEDBACKLOOP_{name.upper()}_DATABASE_URL": url for name, url in urls.items()}


def hotline_credential(database_url: str, name: str = "bench call centre") -> str:
    """A call centre's credential in intake's store, as a deployment would register it."""
    with intake_store(database_url).begin() as session:
        return create_credential(session=session, kind=Kind.HOTLINE, name=name, now=now())


def now() -> datetime:
    return datetime.now(UTC)


class PeakMemory:
    """Samples each replica's RSS every second and keeps the peak."""

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet
        self.peak: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, usage in self._fleet.usage().items():
            self.peak[name] = max(self.peak.get(name, 0.0), usage.rss_mib)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._sample()

    def __enter__(self) -> "PeakMemory":
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@dataclass
class Measured:
    """CPU and memory of a fleet over one stretch of a benchmark."""

    fleet: Fleet
    #: Processes that are not services (the broker, a PostgreSQL server), by name.
    others: dict[str, int] = field(default_factory=dict)
    before: dict[str, Usage] | None = None
    after: dict[str, Usage] | None = None
    memory: PeakMemory | None = None
    _others_before: dict[str, float] = field(default_factory=dict)
    _others_spent: dict[str, float] = field(default_factory=dict)

    @contextlib.contextmanager
    def stretch(self) -> Iterator[None]:
        """Measure from entering to leaving."""
        self._others_before = {k: tree_cpu_seconds(pid) for k, pid in self.others.items()}
        self.before = self.fleet.usage()
        with PeakMemory(self.fleet) as self.memory:
            yield
        self.after = self.fleet.usage()
        self._others_spent = {
            k: round(tree_cpu_seconds(pid) - self._others_before[k], 2)
            for k, pid in self.others.items()
        }

    def figures(self, items: int) -> dict[str, object]:
        """cpu_seconds and peak_rss_mib per replica, and CPU ms per item summed over them."""
        assert self.before is not None and self.after is not None and self.memory is not None
        cpu = {
            k: round(self.after[k].cpu_seconds - self.before[k].cpu_seconds, 2)
            for k in sorted(self.after)
        }
        return {
            "cpu_seconds": cpu,
            "cpu_ms_per_item": round(sum(cpu.values()) * 1000 / max(items, 1), 2),
            "peak_rss_mib": {k: round(v) for k, v in sorted(self.memory.peak.items())},
            **({"infrastructure_cpu_seconds": self._others_spent} if self.others else {}),
        }


def write_result(report: dict[str, object], *, quick: bool = False) -> None:
    """bench/results/<benchmark>.json, and the same on stdout.

    A --quick trial goes to bench/results/quick/, which the report does not read, so a trial
    never stands in for a figure of `make bench`.
    """
    report.setdefault("machine", describe())
    text = json.dumps(report, indent=2, ensure_ascii=False)
    folder = RESULTS / "quick" if quick else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{report['benchmark']}.json").write_text(text + "\n")
    print(text)


@dataclass
class Pipeline:
    """The four services running on their own broker and stores."""

    kafka: LocalKafka
    fleet: Fleet
    env: dict[str, str]
    hotline_token: str
    #: The broker's and the PostgreSQL server's processes, for their CPU.
    others: dict[str, int] = field(default_factory=dict)

    def measured(self) -> "Measured":
        """CPU and memory of the services (and the rest) over a stretch."""
        return Measured(self.fleet, self.others)


@contextlib.contextmanager
def pipeline(
    state: Path, settings: StackSettings, *, postgres: bool, routers: int
) -> Iterator[Pipeline]:
    """Broker, stores and services started; all stopped on leaving."""
    with (
        broker(state, settings) as kafka,
        stores(state, ["intake", "router", "followup"], postgres=postgres) as databases,
    ):
        urls = databases.urls
        env = service_env(kafka.bootstrap, settings) | database_env(urls)
        found = {"kafka": kafka.pid(), "postgresql": databases.server_pid}
        others = {name: pid for name, pid in found.items() if pid is not None}
        counts = {"intake": 1, "router": routers, "followup": 1, "metrics": 1, "signals": 1}
        fleet = Fleet(env=env, logs=state / "logs", counts=counts)
        fleet.start()
        try:
            yield Pipeline(kafka, fleet, env, hotline_credential(urls["intake"]), others)
        finally:
            fleet.stop()
