"""The benchmark harness's own logic, without a broker: quantiles, profiles and the report."""

import os
import subprocess
import sys
import time
from pathlib import Path

from bench.profile import rank, read_stacks
from bench.report import render, targets_table
from bench.stack import percentile, tree_cpu_seconds
from feedbackloop.devstack.fleet import usage_of


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0


def test_an_item_never_delivered_makes_the_p99_infinite() -> None:
    latencies = sorted([0.1] * 98 + [float("inf")] * 2)
    assert percentile(latencies, 0.99) == float("inf")
    assert percentile(latencies, 0.5) == 0.1


def test_profiles_rank_self_and_inclusive_frames(tmp_path: Path) -> None:
    raw = tmp_path / "router-0.txt"
    main = "<module> (feedbackloop/__main__.py)"
    route = "route (services/router/agents.py)"
    raw.write_text(
        f"process 1:python;thread (0x1);{main};{route};rank (sklearn/linear.py) 6\n"
        f"process 1:python;thread (0x1);{main};{route} 3\n"
        f"process 1:python;thread (0x2);{main};send (aiokafka/client.py) 1\n"
    )
    ranked = rank(read_stacks(raw), top=2)
    assert ranked.samples == 10
    assert ranked.own == [("rank (sklearn/linear.py)", 60.0), (route, 30.0)]
    # The entry point is on every stack and says nothing; library frames are not listed.
    assert ranked.inclusive == [(route, 90.0)]
    assert ranked.packages == [("sklearn", 60.0), ("services", 30.0)]


def _day(**overrides: object) -> dict[str, object]:
    day: dict[str, object] = {
        "benchmark": "e2e",
        "items": 66_000,
        "accepted": 66_000,
        "end_to_end_seconds": 55.0,
        "items_per_second": 1200.0,
        "cpu_ms_per_item": 2.0,
        "cpu_seconds": {"intake-0": 60.0, "router-0": 72.0},
        "kafka_producer_performance": {"records_per_second": 60_000.0},
        "ratio_to_raw_produce_rate": 0.02,
    }
    day.update(overrides)
    return day


def test_the_targets_table_says_what_is_met_and_what_was_not_run() -> None:
    lines = targets_table({"e2e": _day()})
    day = next(line for line in lines if line.startswith("| 66,000-item day"))
    cpu = next(line for line in lines if line.startswith("| CPU per item"))
    postgres = next(line for line in lines if line.startswith("| same on PostgreSQL"))
    assert day.endswith("| yes |") and "55.0 s for 66,000 items" in day
    assert cpu.endswith("| no |") and "2.0 ms" in cpu
    assert "not run" in postgres


def test_a_shorter_day_never_meets_the_day_target() -> None:
    lines = targets_table({"e2e": _day(items=6000, accepted=6000)})
    day = next(line for line in lines if line.startswith("| 66,000-item day"))
    assert day.endswith("| no |")


def test_an_old_result_without_a_figure_is_shown_as_lacking_it() -> None:
    old = _day()
    del old["cpu_ms_per_item"]
    lines = targets_table({"e2e": old})
    cpu = next(line for line in lines if line.startswith("| CPU per item"))
    assert "lacks" in cpu


def test_the_report_ends_with_the_profile_notes() -> None:
    text = render({"e2e": _day()}, notes="## Where the time goes\n\nfollowup first.")
    assert "## Targets (issue 16)" in text
    assert "| end_to_end_seconds | 55.0 |" in text
    assert text.rstrip().endswith("followup first.")


def test_a_process_tree_counts_its_live_children() -> None:
    # Spins for a moment of CPU, then waits on stdin so that it is alive when counted.
    spin = (
        "import sys, time\n"
        "end = time.process_time() + 0.3\n"
        "while time.process_time() < end: pass\n"
        "sys.stdin.read()"
    )
    child = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while usage_of(child.pid).cpu_seconds < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        own = usage_of(os.getpid()).cpu_seconds
        assert tree_cpu_seconds(os.getpid()) >= own + 0.3
    finally:
        child.communicate(b"")
