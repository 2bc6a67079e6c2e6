"""The figures behind `router eval --report`: calibration bins and the per-department table."""

from pathlib import Path

import numpy as np

from feedbackloop.cli.report import draw_reliability
from services.router.reliability import reliability

CLASSES = ["环境保护", "城乡建设"]
CATEGORIES = {"环境保护": "environment", "城乡建设": "housing"}
DEPARTMENTS = {"environment": "市生态环境局", "housing": "市住房和城乡建设局"}


def _report(probabilities: list[list[float]], labels: list[str]) -> dict:
    return reliability(
        np.asarray(probabilities),
        labels,
        CLASSES,
        threshold=0.8,
        categories=CATEGORIES,
        departments=DEPARTMENTS,
    )


def test_bins_hold_each_item_once_and_a_confidence_of_one_is_counted() -> None:
    report = _report(
        [[1.0, 0.0], [0.95, 0.05], [0.55, 0.45], [0.1, 0.9]],
        ["环境保护", "城乡建设", "环境保护", "城乡建设"],
    )
    assert sum(b["items"] for b in report["bins"]) == 4
    top = report["bins"][-1]
    assert (top["items"], top["accuracy"]) == (3, round(2 / 3, 4))
    assert report["bins"][5] == {
        "low": 0.5,
        "high": 0.6,
        "items": 1,
        "mean_confidence": 0.55,
        "accuracy": 1.0,
    }
    # ECE: bin 0.9-1.0 has confidence 0.95 and accuracy 0.667; bin 0.5-0.6, 0.55 and 1.0.
    assert report["expected_calibration_error"] == round((3 * (0.95 - 2 / 3) + 0.45) / 4, 4)


def test_the_table_says_per_department_how_much_is_automatic_and_how_precise() -> None:
    report = _report(
        [[0.9, 0.1], [0.85, 0.15], [0.6, 0.4], [0.2, 0.8]],
        ["环境保护", "城乡建设", "环境保护", "城乡建设"],
    )
    rows = {r["department_code"]: r for r in report["per_department"]}
    environment = rows["environment"]
    assert environment["department"] == "市生态环境局"
    assert (environment["items"], environment["predicted"], environment["auto_assigned"]) == (
        2,
        3,
        2,
    )
    assert environment["auto_precision"] == 0.5  # one of its two automatic items was housing's
    assert environment["auto_rate"] == 0.5  # of its own two items, one was decided alone
    assert rows["housing"]["auto_precision"] == 1.0
    assert (report["auto_rate"], report["auto_precision"]) == (0.75, round(2 / 3, 4))


def test_the_diagram_is_drawn_as_a_png(tmp_path: Path) -> None:
    report = _report([[0.9, 0.1], [0.3, 0.7]], ["环境保护", "城乡建设"])
    path = tmp_path / "reliability.png"
    draw_reliability(report, path, title="raw-dev.csv")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
