"""A throw-away PostgreSQL server from Debian's `postgresql` package, on loopback only.

The cluster (data directory, Unix socket, log) lives under one directory. Authentication is
`trust` and the server only listens on 127.0.0.1, so it is for tests and local development,
never for data that must survive: unless `durable` is set, it also skips fsync.

PostgreSQL refuses to run as root; when we are root, every server command runs as the
`postgres` system user (which the Debian package creates), and the directory is given to it.
"""

import contextlib
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEBIAN_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"


class PostgresError(RuntimeError):
    """The local server could not be found, initialised, started or reached."""


def server_bin_dir(root: Path = DEBIAN_ROOT) -> Path:
    """The `bin` directory of the highest PostgreSQL version installed by Debian's packages."""
    found = [p.parent for p in root.glob("*/bin/postgres") if p.parent.parent.name.isdigit()]
    if not found:
        raise PostgresError(
            f"no PostgreSQL server under {root}/<version>/bin; install Debian's `postgresql` "
            "package (`make deps` does)"
        )
    return max(found, key=lambda bin_dir: int(bin_dir.parent.name))


@dataclass
class LocalPostgres:
    """One local cluster: where it lives and which loopback port it listens on."""

    home: Path
    port: int
    durable: bool = False
    bin_dir: Path = field(default_factory=server_bin_dir)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+psycopg://{SERVER_USER}@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self) -> dict[str, Any]:
        """subprocess arguments that drop root to the `postgres` user (none when not root)."""
        if os.geteuid() != 0:
            return {"cwd": self.home}
        return {"cwd": self.home, "user": SERVER_USER, "group": SERVER_USER, "extra_groups": []}

    def _run(self, tool: str, *args: str, timeout: float) -> None:
        cmd = [str(self.bin_dir / tool), *args]
        try:
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                **self._as_server_user(),
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresError(f"{' '.join(cmd)} took more than {timeout:.0f} s") from exc
        if done.returncode != 0:
            hint = ""
            if os.geteuid() == 0:
                hint = f"\n(as root, {tool} runs as `{SERVER_USER}`, which must reach {self.home})"
            raise PostgresError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}{hint}")

    def init(self) -> None:
        """Create the cluster (superuser `postgres`, trust authentication) unless it exists."""
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.home.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:
            for path in (self.home, self.socket_dir):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        log.info("initialising PostgreSQL cluster in %s", self.data_dir)
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SERVER_USER,
            "-A",
            "trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
            timeout=120,
        )

    def start(self, *, timeout: float = 60.0) -> None:
        """Initialise if needed, start the server, and wait until it accepts connections."""
        if self._process is not None and self._process.poll() is None:
            return
        self.init()
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
        }
        if not self.durable:  # a crash may lose the cluster; it is rebuilt for every run
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        cmd = [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in a terminal must not kill the server
                **self._as_server_user(),
            )
        log.info("PostgreSQL starting (pid %s), log: %s", self._process.pid, self.log_file)
        try:
            self.wait_ready(timeout=timeout)
        except PostgresError:
            # Never leave a half-started server behind, and keep the start-up error.
            with contextlib.suppress(PostgresError):
                self.stop(timeout=10)
            if self._process is not None:
                self._process.kill()
                self._process = None
            raise

    def wait_ready(self, *, timeout: float) -> None:
        """Poll until a connection succeeds, or raise with the log's tail."""
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise PostgresError(f"PostgreSQL exited during start-up:\n{self.log_tail()}")
            try:
                with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise PostgresError(f"PostgreSQL did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self, *, timeout: float = 30.0) -> bool:
        """Stop the server (fast shutdown: sessions are ended); False if it was not running."""
        running = (self.data_dir / "postmaster.pid").exists()
        if running:
            mode_fast = ["-m", "fast", "-w", "-t", str(max(1, round(timeout)))]
            self._run("pg_ctl", "stop", "-D", str(self.data_dir), *mode_fast, timeout=timeout + 5)
            log.info("PostgreSQL stopped")
        if self._process is not None:
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        return running

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={SERVER_USER} dbname={database}"
