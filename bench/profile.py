"""Where each service's CPU goes: py-spy on every replica while a benchmark runs.

`Profiler` attaches `py-spy record` (raw, collapsed stacks) to each replica's process for the
measured stretch, sampling the thread that holds the GIL (or, with gil=False, every thread
that is not idle: where threads wait on locks); `summarise` ranks, per service, the frames
sampled: by self time (the innermost Python frame, which includes the C code it called) and
by inclusive time (a frame anywhere on the stack), as shares of that service's samples.

    .venv/bin/python -m bench.e2e --items 6000 --profile .var/profile
    .venv/bin/python -m bench.profile .var/profile
"""

import argparse
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from feedbackloop.devstack.fleet import Fleet

#: Few enough samples a second that py-spy's own CPU stays small next to the services'.
RATE = 50
#: Where the project's own frames live, and the ones on every stack (process start-up).
PROJECT = ("(services/", "(feedbackloop/")
ENTRY = {
    "<module> (feedbackloop/__main__.py)",
    "main (feedbackloop/cli/__init__.py)",
    "serve (feedbackloop/cli/serve.py)",
}


class Profiler:
    """py-spy recording every replica of a fleet from entering to leaving."""

    def __init__(self, fleet: Fleet, out: Path, *, rate: int = RATE, gil: bool = True) -> None:
        self._fleet, self._out, self._rate, self._gil = fleet, out, rate, gil
        self._spies: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> "Profiler":
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        self._out.mkdir(parents=True, exist_ok=True)
        for name, procs in self._fleet.replicas.items():
            for index, proc in enumerate(procs):
                assert proc.popen is not None
                target = ["--pid", str(proc.popen.pid), "--rate", str(self._rate)]
                output = ["--output", str(self._out / f"{name}-{index}.txt"), "--format", "raw"]
                # Only the thread holding the GIL: Python's CPU. Without it, threads waiting
                # on a lock inside a Python frame would count as busy there.
                light = ["--nolineno", "--subprocesses", *(["--gil"] if self._gil else [])]
                command = [spy, "record", *target, *output, *light]
                log = (self._out / f"{name}-{index}.py-spy.log").open("wb")
                self._spies.append(subprocess.Popen(command, stdout=log, stderr=log))
        return self

    def __exit__(self, *exc: object) -> None:
        # SIGINT makes py-spy write what it sampled and exit.
        for spy in self._spies:
            spy.send_signal(signal.SIGINT)
        for spy in self._spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    """Collapsed stacks (outermost frame first) and their sample counts."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            # The first frame is py-spy's process/thread label, not code.
            frames = tuple(f for f in stack.split(";") if not f.startswith(("process ", "thread ")))
            stacks[frames] += int(count)
    return stacks


@dataclass(frozen=True)
class Ranked:
    """A service's samples and its top frames, with their percentage of the samples."""

    samples: int
    own: list[tuple[str, float]]
    inclusive: list[tuple[str, float]]
    #: Self time by the package of the innermost frame (sqlalchemy, kafka, services, ...).
    packages: list[tuple[str, float]]


def rank(stacks: Counter[tuple[str, ...]], top: int) -> Ranked:
    """Total samples, and the top frames by self and by inclusive share."""
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for frames, count in stacks.items():
        if frames:
            own[frames[-1]] += count
            packages[package_of(frames[-1])] += count
        # Only the project's own frames: the entry points and threads every stack has say
        # nothing about where an item's time goes.
        for frame in {f for f in frames if any(p in f for p in PROJECT) and f not in ENTRY}:
            anywhere[frame] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100 * n / total, 1)) for f, n in counter.most_common(top)]

    return Ranked(total, shares(own), shares(anywhere), shares(packages))


def package_of(frame: str) -> str:
    """`do_execute (sqlalchemy/engine/default.py)` -> `sqlalchemy`."""
    path = frame.rpartition("(")[2].rstrip(")")
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def summarise(folder: Path, *, top: int = 15) -> str:
    """A markdown summary of every recorded service in a folder."""
    lines = []
    for path in sorted(folder.glob("*.txt")):
        ranked = rank(read_stacks(path), top)
        lines += [f"## {path.stem} ({ranked.samples} samples at {RATE}/s)", ""]
        kinds = (
            ("self, by package", ranked.packages),
            ("self", ranked.own),
            ("inclusive, the project's frames", ranked.inclusive),
        )
        for kind, frames in kinds:
            lines += [f"{kind}:", ""]
            lines += [f"- {share:5.1f}% {frame}" for frame, share in frames]
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Summarise py-spy raw profiles.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.folder, top=args.top))


if __name__ == "__main__":
    main()
