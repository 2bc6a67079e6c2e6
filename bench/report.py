"""Writes docs/benchmarks.md from the JSON results in bench/results/.

First the figures of issue 16's targets table (each from its benchmark's last result, with
whether the target is met), then every benchmark's full result, then the profile notes kept
by hand in bench/where-the-time-goes.md (py-spy findings are read, not computed).
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
NOTES = ROOT / "bench" / "where-the-time-goes.md"
SKIP = {"benchmark", "what", "machine"}


@dataclass(frozen=True)
class Target:
    """One row of the targets table: where its figure is and when it is met."""

    measure: str
    target: str
    benchmark: str
    show: Callable[[dict[str, Any]], str]
    met: Callable[[dict[str, Any]], bool] | None = None


def _get(result: dict[str, Any], dotted: str) -> Any:
    value: Any = result
    for part in dotted.split("."):
        value = value[part]
    return value


def _day(result: dict[str, Any]) -> str:
    return (
        f"{result['end_to_end_seconds']:,} s for {result['accepted']:,} items "
        f"({result['items_per_second']:,} items/s)"
    )


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


TARGETS = [
    Target(
        "66,000-item day end to end (SQLite)",
        "<= 60 s",
        "e2e",
        _day,
        lambda r: r["items"] >= 66_000 and r["end_to_end_seconds"] <= 60,
    ),
    Target(
        "same on PostgreSQL",
        "<= 90 s",
        "e2e-postgresql",
        _day,
        lambda r: r["items"] >= 66_000 and r["end_to_end_seconds"] <= 90,
    ),
    Target(
        "intake JSON API, concurrency 32",
        ">= 1,500/s, p99 <= 100 ms",
        "intake",
        lambda r: (
            f"{r['accepted_per_second']:,}/s, p50 {r['latency_p50_ms']} ms, "
            f"p99 {r['latency_p99_ms']} ms"
        ),
        lambda r: r["accepted_per_second"] >= 1500 and r["latency_p99_ms"] <= 100,
    ),
    Target(
        "hotline batch ingest",
        ">= 10,000 calls/s",
        "intake",
        lambda r: f"{_get(r, 'hotline_batch.calls_per_second'):,} calls/s",
        lambda r: _get(r, "hotline_batch.calls_per_second") >= 10_000,
    ),
    Target(
        "p99 intake -> department queue at a steady 500 items/s",
        "<= 250 ms",
        "e2e-steady-500",
        lambda r: (
            f"p50 {r['intake_to_queue_p50_seconds']} s, p99 "
            f"{r['intake_to_queue_p99_seconds']} s, {r['accepted_per_second']} items/s taken, "
            f"kept up: {'yes' if r['kept_up'] else 'no'}"
        ),
        lambda r: (
            bool(r["kept_up"])
            and _finite(r["intake_to_queue_p99_seconds"])
            and r["intake_to_queue_p99_seconds"] <= 0.25
        ),
    ),
    Target(
        "CPU per item, all services",
        "<= 1.5 ms",
        "e2e",
        lambda r: (
            f"{r['cpu_ms_per_item']} ms "
            + "("
            + ", ".join(f"{k} {v:,} s" for k, v in r["cpu_seconds"].items())
            + ")"
        ),
        lambda r: r["cpu_ms_per_item"] <= 1.5,
    ),
    Target(
        "followup ticket opening, alone",
        "-",
        "followup",
        lambda r: f"{r['tickets_per_second']:,} tickets/s, {r['cpu_ms_per_item']} ms CPU each",
    ),
    Target(
        "metrics fold, alone",
        "-",
        "metrics",
        lambda r: f"{r['records_per_second']:,} records/s, {r['cpu_ms_per_item']} ms CPU each",
    ),
    Target(
        "the day's rate / Kafka ProducerPerformance (1 KiB, acks=all)",
        "-",
        "e2e",
        lambda r: (
            f"{r['ratio_to_raw_produce_rate']:.3%} of "
            f"{_get(r, 'kafka_producer_performance.records_per_second'):,} records/s"
        ),
    ),
]


def _rows(result: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """(measure, value) pairs, nested results flattened as `outer.inner`."""
    rows: list[tuple[str, object]] = []
    for key, value in result.items():
        if isinstance(value, dict) and value:
            rows += _rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def targets_table(results: dict[str, dict[str, Any]]) -> list[str]:
    """Issue 16's table with this run's figures; a benchmark not run says so."""
    lines = ["| measure | target | this run | met |", "|---|---|---|---|"]
    for row in TARGETS:
        result = results.get(row.benchmark)
        if result is None:
            lines.append(f"| {row.measure} | {row.target} | not run | - |")
            continue
        try:
            shown = row.show(result)
            met = "-" if row.met is None else ("yes" if row.met(result) else "no")
        except (KeyError, TypeError, ValueError) as exc:
            shown, met = f"result lacks {exc}", "-"
        lines.append(f"| {row.measure} | {row.target} | {shown} | {met} |")
    return lines


def render(results: dict[str, dict[str, Any]], notes: str = "") -> str:
    """The whole of docs/benchmarks.md."""
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` from `bench/results/*.json`; every figure is from the last run on",
        "the machine named under each table. Re-run with `make bench` (item counts are make",
        "variables: see the Makefile's bench target).",
        "",
        "## Targets (issue 16)",
        "",
        *targets_table(results),
        "",
    ]
    for name, result in sorted(results.items()):
        machine = result.get("machine", {})
        lines += [f"## {name}", "", result.get("what", ""), "", "| measure | value |", "|---|---|"]
        shown = {key: value for key, value in result.items() if key not in SKIP}
        lines += [f"| {key} | {value} |" for key, value in _rows(shown)]
        lines += [
            "",
            f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
            f"{machine.get('memory_gib')} GiB, Python {machine.get('python')}"
            + (
                f", load average {machine['load_average_1m']} at the end."
                if "load_average_1m" in machine
                else "."
            ),
            "",
        ]
    if notes:
        lines += [notes.strip(), ""]
    return "\n".join(lines)


def main() -> None:
    results = {
        str(result["benchmark"]): result
        for result in (json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json")))
    }
    notes = NOTES.read_text(encoding="utf-8") if NOTES.exists() else ""
    out = ROOT / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(render(results, notes))


if __name__ == "__main__":
    main()
