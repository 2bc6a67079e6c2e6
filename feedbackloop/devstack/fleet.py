"""Several replicas of each service on one broker: for scale-out, chaos runs and benchmarks.

Every replica is a `feedbackloop serve <name>` process on its own loopback port. The fleet
can SIGKILL and restart one replica at a time, and reads each replica's CPU time and
resident memory from /proc.
"""

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from feedbackloop.devstack.config import SERVICES
from feedbackloop.devstack.processes import ServiceProcess, StackError

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Usage:
    """A process's CPU seconds so far and its resident memory now."""

    cpu_seconds: float
    rss_mib: float


def usage_of(pid: int) -> Usage:
    """CPU time (user + system, children included) and RSS of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return Usage(ticks / _CLOCK_TICKS, pages * _PAGE / 2**20)


@dataclass
class Fleet:
    """Replicas of the services, started with a shared environment plus their own port."""

    env: dict[str, str]
    logs: Path
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 1))
    replicas: dict[str, list[ServiceProcess]] = field(default_factory=dict)
    #: CPU seconds of replicas that were killed and replaced, so totals survive chaos.
    spent: dict[str, float] = field(default_factory=dict)

    def _env_of(self, name: str, index: int, proc: ServiceProcess) -> dict[str, str]:
        env = dict(self.env)
        env[f"FEEDBACKLOOP_{name.upper()}_PORT"] = str(proc.port)
        env[f"FEEDBACKLOOP_{name.upper()}_HOST"] = "127.0.0.1"
        if name == "intake":
            env["FEEDBACKLOOP_INTAKE_NODE"] = str(index + 1)  # ticket numbers stay apart
        return env

    def start(self, *, timeout: float = 180.0) -> None:
        """Start every replica and wait until all answer /healthz."""
        for name in SERVICES:
            for index in range(self.counts.get(name, 0)):
                proc = ServiceProcess(name, free_port(), self.logs / f"{name}-{index}.log")
                proc.start(self._env_of(name, index, proc))
                self.replicas.setdefault(name, []).append(proc)
        deadline = time.monotonic() + timeout
        try:
            for procs in self.replicas.values():
                for proc in procs:
                    proc.wait_healthy(deadline=deadline)
        except StackError:
            self.stop()
            raise

    def url(self, name: str, index: int = 0) -> str:
        """The base URL of one replica."""
        return self.replicas[name][index].url

    def kill(self, name: str, index: int = 0) -> None:
        """SIGKILL one replica: no shutdown code runs."""
        proc = self.replicas[name][index]
        if proc.popen is not None and proc.alive():
            key = f"{name}-{index}"
            self.spent[key] = self.spent.get(key, 0.0) + usage_of(proc.popen.pid).cpu_seconds
        proc.stop(kill=True)

    def restart(self, name: str, index: int = 0, *, timeout: float = 60.0, tries: int = 3) -> int:
        """Start a stopped replica again and wait until it is healthy; how many starts it took.

        Like a supervisor with a health check, a replica that is not healthy in time is
        killed and started again: faust can hang while starting (its topic creation waits
        on a request with a timeout of milliseconds read as seconds).
        """
        proc = self.replicas[name][index]
        for attempt in range(1, tries + 1):
            proc.start(self._env_of(name, index, proc))
            try:
                proc.wait_healthy(deadline=time.monotonic() + timeout)
                return attempt
            except StackError:
                if attempt == tries:
                    raise
                self.kill(name, index)
        raise AssertionError("unreachable")

    def usage(self) -> dict[str, Usage]:
        """CPU seconds (over every life of each replica) and current RSS, per replica."""
        found = {}
        for name, procs in self.replicas.items():
            for index, proc in enumerate(procs):
                key = f"{name}-{index}"
                now = usage_of(proc.popen.pid) if proc.popen and proc.alive() else Usage(0, 0)
                found[key] = Usage(now.cpu_seconds + self.spent.get(key, 0.0), now.rss_mib)
        return found

    def log_tails(self, lines: int = 15) -> str:
        """The end of every replica's log, for a failure message."""
        return "\n".join(
            f"--- {proc.log_file.name}\n{proc.log_tail(lines)}"
            for procs in self.replicas.values()
            for proc in procs
        )

    def stop(self) -> None:
        """Stop every replica, the pipeline's end first."""
        for name in reversed(SERVICES):
            for proc in self.replicas.get(name, []):
                proc.stop()
