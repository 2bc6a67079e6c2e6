"""A throw-away Prometheus from Debian's `prometheus` package, on loopback only.

It scrapes the given targets every second (so a test does not wait for a realistic
interval) and keeps its data under one directory; `query` runs PromQL through the HTTP API.
"""

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

log = logging.getLogger(__name__)


class PrometheusError(RuntimeError):
    """The local Prometheus could not be found, started or queried."""


@dataclass
class LocalPrometheus:
    """One local server: its directory, its loopback port, and what it scrapes."""

    home: Path
    port: int
    #: job name -> "host:port" of a /metrics endpoint
    targets: dict[str, str]
    rule_files: list[Path] = field(default_factory=list)
    scrape_interval: str = "1s"
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout: float = 60.0) -> None:
        """Write the configuration, start the server and wait until it is ready."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise PrometheusError("no `prometheus` on PATH; install Debian's `prometheus` package")
        self.home.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": self.scrape_interval, "evaluation_interval": "1s"},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]}
                for job, target in self.targets.items()
            ],
        }
        (self.home / "prometheus.yml").write_text(yaml.safe_dump(config))
        log_file = (self.home / "prometheus.log").open("ab")
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.home / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.home / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-lifecycle",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PrometheusError(f"prometheus exited during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus was not ready in {timeout} s:\n{self.log_tail()}")

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The result vector (or matrix) of an instant query; PrometheusError if it fails."""
        reply = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = reply.json()
        if reply.status_code != 200 or body.get("status") != "success":
            raise PrometheusError(f"query {expr!r} failed: {body.get('error', reply.text)}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log."""
        try:
            text = (self.home / "prometheus.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
