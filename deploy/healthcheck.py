"""Container health check: GET /healthz of the service this container serves.

The image's HEALTHCHECK runs `python /opt/feedbackloop/healthcheck.py [SERVICE]` (standard
library only, so it starts fast). Without SERVICE the service is read from the container's main
process, `feedbackloop serve SERVICE`; a container that runs another command (`router train`,
`kafka create-topics`) serves nothing and counts as healthy. The port is the service's
FEEDBACKLOOP_<SERVICE>_PORT, else its default; the service answers on 127.0.0.1 because the
image makes every service listen on all addresses of the container.
"""

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

#: The services' default ports (their settings classes; tests/deploy checks they agree).
DEFAULT_PORTS = {"intake": 8001, "router": 8002, "followup": 8003, "metrics": 8004, "signals": 8005}


def served_service(cmdline: list[str]) -> str | None:
    """The SERVICE of a `... serve SERVICE` command line, or None for any other command."""
    for position, arg in enumerate(cmdline[:-1]):
        if arg == "serve":
            return cmdline[position + 1]
    return None


def main_process_cmdline() -> list[str]:
    """The arguments of the container's main process (pid 1)."""
    return Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")


def health_url(service: str, environ: Mapping[str, str]) -> str:
    """Where the service's /healthz answers inside its container."""
    port = environ.get(f"FEEDBACKLOOP_{service.upper()}_PORT", str(DEFAULT_PORTS[service]))
    return f"http://127.0.0.1:{int(port)}/healthz"


def check(url: str, timeout: float = 4.0) -> str | None:
    """None when the URL answers 200, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return None if reply.status == 200 else f"{url} answered {reply.status}"
    except urllib.error.HTTPError as exc:  # 503 while metrics catches up, for instance
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def main(argv: list[str]) -> int:
    service = argv[1] if len(argv) > 1 else served_service(main_process_cmdline())
    if service is None:
        return 0
    if service not in DEFAULT_PORTS:
        sys.stderr.write(f"unknown service {service!r}; one of {', '.join(DEFAULT_PORTS)}\n")
        return 1
    problem = check(health_url(service, os.environ))
    if problem:
        sys.stderr.write(problem + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
