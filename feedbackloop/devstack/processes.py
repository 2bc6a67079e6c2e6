"""Starting, watching and stopping the services as separate processes."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from feedbackloop.devstack.config import SERVICES, StackSettings
from feedbackloop.devstack.credentials import stack_hotline_token, stack_knowledge_token


class StackError(RuntimeError):
    """A service did not start or stopped unexpectedly."""


@dataclass
class ServiceProcess:
    """One running service: its process, port and log file."""

    name: str
    port: int
    log_file: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str]) -> None:
        """Spawn `feedbackloop serve <name>` with its output in the log file."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "feedbackloop", "serve", self.name],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def wait_healthy(self, *, deadline: float) -> None:
        """Poll /healthz until it answers ok, or raise with the log's tail."""
        while time.monotonic() < deadline:
            if not self.alive():
                raise StackError(f"{self.name} exited during start-up:\n{self.log_tail()}")
            try:
                reply = httpx.get(f"{self.url}/healthz", timeout=2)
                if reply.status_code == 200 and reply.json().get("status") == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError(f"{self.name} did not become healthy in time:\n{self.log_tail()}")

    def stop(self, *, timeout: float = 20.0, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL) and wait; escalate to SIGKILL after the timeout."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the service's log."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Stack:
    """The services of one local deployment."""

    settings: StackSettings
    bootstrap: str
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    #: More environment for every service (e.g. a test's SLA policy file).
    extra_env: dict[str, str] = field(default_factory=dict)
    #: The simulated call centre's credential (`Authorization: Bearer <token>`), once started.
    hotline_token: str = ""

    def env(self) -> dict[str, str]:
        """The environment every service process gets."""
        state = self.settings.state_dir.resolve()
        env = dict(os.environ)
        env.update(
            {
                "FEEDBACKLOOP_KAFKA_BOOTSTRAP": self.bootstrap,
                "FEEDBACKLOOP_TOPIC_PARTITIONS": str(self.settings.topic_partitions),
                "FEEDBACKLOOP_INTAKE_DATABASE_URL": f"sqlite:///{state / 'intake.db'}",
                "FEEDBACKLOOP_FOLLOWUP_DATABASE_URL": f"sqlite:///{state / 'followup.db'}",
                "FEEDBACKLOOP_ROUTER_DATABASE_URL": f"sqlite:///{state / 'router.db'}",
                "FEEDBACKLOOP_ROUTER_MODEL_DIR": str(self.settings.router_model_dir.resolve()),
                "PYTHONUNBUFFERED": "1",
            }
        )
        # The consoles link to each other's pages (triage on the router, approvals on
        # followup, the league table on metrics).
        for name in ("router", "followup", "metrics"):
            env.setdefault(f"FEEDBACKLOOP_CONSOLE_{name.upper()}_URL", self.settings.url_of(name))
        # The status link intake gives a citizen points at this stack's followup, on its port.
        env.setdefault(
            "FEEDBACKLOOP_INTAKE_STATUS_URL_TEMPLATE",
            f"{self.settings.url_of('followup')}/t/{{ticket_no}}",
        )
        # Intake asks this stack's followup for direct answers (直接答复).
        env.setdefault("FEEDBACKLOOP_INTAKE_KNOWLEDGE_URL", self.settings.url_of("followup"))
        env.update(self.extra_env)
        for name in SERVICES:
            env[f"FEEDBACKLOOP_{name.upper()}_PORT"] = str(self.settings.port_of(name))
            env[f"FEEDBACKLOOP_{name.upper()}_HOST"] = "127.0.0.1"
        return env

    def start(self, *, timeout: float = 120.0) -> None:
        """Start every service and wait until all are healthy."""
        env = self.env()
        if not env.get("FEEDBACKLOOP_INTAKE_KNOWLEDGE_TOKEN"):
            env["FEEDBACKLOOP_INTAKE_KNOWLEDGE_TOKEN"] = stack_knowledge_token(
                state_dir=self.settings.state_dir,
                database_url=env["FEEDBACKLOOP_FOLLOWUP_DATABASE_URL"],
            )
        logs = self.settings.state_dir / "logs"
        for name in SERVICES:
            proc = ServiceProcess(name, self.settings.port_of(name), logs / f"{name}.log")
            proc.start(env)
            self.services[name] = proc
        deadline = time.monotonic() + timeout
        try:
            for proc in self.services.values():
                proc.wait_healthy(deadline=deadline)
        except StackError:
            self.stop()
            raise
        self.hotline_token = stack_hotline_token(
            state_dir=self.settings.state_dir, database_url=env["FEEDBACKLOOP_INTAKE_DATABASE_URL"]
        )
        self._write_state()

    def stop(self) -> None:
        """Stop every service (in reverse order of the pipeline)."""
        for proc in reversed(list(self.services.values())):
            proc.stop()
        (self.settings.state_dir / "stack.json").unlink(missing_ok=True)

    def _write_state(self) -> None:
        state = {
            name: {"pid": proc.popen.pid if proc.popen else None, "url": proc.url}
            for name, proc in self.services.items()
        }
        (self.settings.state_dir / "stack.json").write_text(json.dumps(state, indent=2))


def read_state(settings: StackSettings) -> dict[str, dict[str, object]]:
    """What the last `feedbackloop up` recorded about its services."""
    try:
        return dict(json.loads((settings.state_dir / "stack.json").read_text()))
    except (OSError, ValueError):
        return {}
