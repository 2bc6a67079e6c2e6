"""Writes docs/benchmarks.md from the JSON results in bench/results/."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SKIP = {"benchmark", "what", "machine"}


def _rows(result: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """(measure, value) pairs, nested results flattened as `outer.inner`."""
    rows: list[tuple[str, object]] = []
    for key, value in result.items():
        if isinstance(value, dict) and value:
            rows += _rows(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def main() -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` from `bench/results/*.json`; every figure is from the last run on",
        "the machine named under each table. Re-run with `make bench`.",
        "",
    ]
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        machine = result.get("machine", {})
        lines += [
            f"## {result['benchmark']}",
            "",
            result.get("what", ""),
            "",
            "| measure | value |",
            "|---|---|",
        ]
        shown = {key: value for key, value in result.items() if key not in SKIP}
        lines += [f"| {key} | {value} |" for key, value in _rows(shown)]
        lines += [
            "",
            f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
            f"{machine.get('memory_gib')} GiB, Python {machine.get('python')}.",
            "",
        ]
    out = ROOT / "docs" / "benchmarks.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
