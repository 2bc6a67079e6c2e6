"""What machine a benchmark ran on, for the report."""

import os
import platform
from pathlib import Path


def describe() -> dict[str, object]:
    """CPU model, logical cores, memory and current load of this machine."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        # Runnable processes when the benchmark ended: above the core count, something else
        # was competing for the CPU and the figures are lower than the machine can do.
        "load_average_1m": round(os.getloadavg()[0], 1),
    }
