"""A single-node Apache Kafka (KRaft, broker + controller) resolved from Maven Central.

The jars are resolved by Maven into its local repository (outside the project); the broker
runs as a detached JVM with its data, configuration, log and pid file under one directory,
so it survives restarts of the CLI and of the machine's services alike.
"""

import base64
import hashlib
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class KafkaError(RuntimeError):
    """The local broker could not be resolved, started or reached."""


@dataclass(frozen=True)
class KafkaStatus:
    """What `feedbackloop kafka status` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    home: Path


@dataclass(frozen=True)
class LocalKafka:
    """One local broker: where it lives and which loopback ports it listens on."""

    home: Path
    pom: Path
    port: int = 9092
    controller_port: int = 9093
    heap: str = "512m"
    maven_cache: Path = Path.home() / ".cache" / "feedbackloop" / "kafka"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def _pid_file(self) -> Path:
        return self.home / "kafka.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "kafka.log"

    def classpath(self) -> str:
        """Resolve the broker's jars with Maven (once per pom) and return the classpath."""
        digest = hashlib.sha256(self.pom.read_bytes()).hexdigest()[:16]
        cached = self.maven_cache / f"classpath-{digest}.txt"
        if cached.exists():
            entries = cached.read_text().strip()
            if entries and all(Path(p).exists() for p in entries.split(os.pathsep)):
                return entries
        self.maven_cache.mkdir(parents=True, exist_ok=True)
        log.info("resolving Kafka from Maven Central (first run only) ...")
        cmd = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(self.pom),
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cached}",
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not cached.exists():
            raise KafkaError(f"Maven could not resolve Kafka:\n{done.stdout}\n{done.stderr}")
        return cached.read_text().strip()

    def _write_config(self) -> Path:
        data = self.home / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={data}",
                    # One broker: every internal topic has a single replica.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    # Consumers join at once instead of waiting 3 s for more members.
                    "group.initial.rebalance.delay.ms=0",
                    # Topics are created explicitly, so a typo cannot invent one.
                    "auto.create.topics.enable=false",
                    "num.partitions=6",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        return config

    def _java(self, classpath: str, *args: str) -> list[str]:
        log4j = self.pom.parent / "log4j2.properties"
        return [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            classpath,
            *args,
        ]

    def _format(self, classpath: str, config: Path) -> None:
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        cmd = self._java(
            classpath,
            "kafka.tools.StorageTool",
            "format",
            # One token: an id starting with "-" (1 in 32) would read as an option.
            f"--cluster-id={cluster_id}",
            "-c",
            str(config),
            "--ignore-formatted",
        )
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise KafkaError(f"formatting KRaft storage failed:\n{done.stdout}\n{done.stderr}")

    def pid(self) -> int | None:
        """The broker's pid if our broker process is alive."""
        try:
            pid = int(self._pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"kafka.Kafka" in cmdline and str(self.home).encode() in cmdline else None

    def status(self) -> KafkaStatus:
        """Whether the broker runs and answers."""
        pid = self.pid()
        return KafkaStatus(
            running=pid is not None and _port_open(self.port),
            pid=pid,
            bootstrap=self.bootstrap,
            home=self.home,
        )

    def start(self, *, timeout: float = 90.0) -> KafkaStatus:
        """Start the broker unless it runs, and wait until it answers requests."""
        proc: subprocess.Popen[bytes] | None = None
        if self.pid() is None:
            for port in (self.port, self.controller_port):
                if _port_open(port):
                    raise KafkaError(
                        f"port {port} on 127.0.0.1 is taken by another program; stop it or "
                        "choose other ports (FEEDBACKLOOP_KAFKA_PORT / _CONTROLLER_PORT)"
                    )
            classpath = self.classpath()
            config = self._write_config()
            self._format(classpath, config)
            with self.log_file.open("ab") as out:
                proc = subprocess.Popen(
                    self._java(classpath, "kafka.Kafka", str(config)),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal must not kill the broker
                )
            self._pid_file.write_text(str(proc.pid))
            log.info("Kafka starting (pid %s), log: %s", proc.pid, self.log_file)
        try:
            self.wait_ready(timeout=timeout, process=proc)
        except KafkaError:
            if proc is not None:  # never leave a half-started broker behind
                self.stop(timeout=10)
                proc.kill()
            raise
        return self.status()

    def wait_ready(self, *, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
        """Poll until the broker answers a metadata request, or raise with its log's tail."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError as ClientError

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Right after the fork, /proc still shows the parent's command line, so a broker
            # we just started is watched through its process handle instead.
            exited = process.poll() is not None if process is not None else self.pid() is None
            if exited:
                raise KafkaError(f"Kafka exited during start-up:\n{self.log_tail()}")
            if _port_open(self.port):
                try:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap, request_timeout_ms=5000
                    )
                    try:
                        admin.list_topics()
                        return
                    finally:
                        admin.close()
                except ClientError:
                    pass
            time.sleep(0.25)
        raise KafkaError(f"Kafka did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Stop the broker gracefully (SIGTERM, then SIGKILL); False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self._pid_file.unlink(missing_ok=True)
        return True

    def kill(self, *, timeout: float = 30.0) -> None:
        """SIGKILL the broker, as a power cut would, and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        # A dying process loses its command line before its sockets: wait for both.
        while (self.pid() is not None or _port_open(self.port)) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the broker's log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
