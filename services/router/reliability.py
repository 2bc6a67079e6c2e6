"""Does the model's confidence mean what it says? The figures of `router eval --report DIR`.

A reliability diagram bins the items by the model's confidence in its first choice and sets
each bin's accuracy beside its mean confidence: a calibrated model lies on the diagonal, and
a bin below it is where the threshold over-promises. The per-department table says, for the
department each category routes to, how many of its items the model would assign alone at the
threshold and how many of those would be right.
"""

from typing import Any

import numpy as np


def reliability(
    probabilities: np.ndarray,
    labels: list[str],
    classes: list[str],
    *,
    threshold: float,
    categories: dict[str, str],
    departments: dict[str, str],
    bins: int = 10,
) -> dict[str, Any]:
    """Calibration bins and a per-department precision / auto-rate table (JSON-ready)."""
    predicted = np.asarray(classes, dtype=object)[probabilities.argmax(1)]
    confidence = probabilities.max(1)
    correct = predicted == np.asarray(labels, dtype=object)
    auto = confidence >= threshold
    edges = np.linspace(0.0, 1.0, bins + 1)
    # The top edge belongs to the last bin, so a confidence of exactly 1.0 is counted.
    which = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        rows.append(
            {
                "low": round(float(edges[b]), 2),
                "high": round(float(edges[b + 1]), 2),
                "items": int(inside.sum()),
                "mean_confidence": round(float(confidence[inside].mean()), 4)
                if inside.any()
                else None,
                "accuracy": round(float(correct[inside].mean()), 4) if inside.any() else None,
            }
        )
    # Expected calibration error: the items-weighted gap between confidence and accuracy.
    gaps = [
        int(inside.sum()) * abs(float(confidence[inside].mean() - correct[inside].mean()))
        for inside in (which == b for b in range(bins))
        if inside.any()
    ]
    ece = sum(gaps) / max(len(labels), 1)
    per_department = []
    for category in classes:
        code = categories.get(category, "")
        mine = predicted == category
        truly = np.asarray(labels, dtype=object) == category
        chosen = mine & auto
        per_department.append(
            {
                "category": category,
                "department_code": code,
                "department": departments.get(code, code),
                "items": int(truly.sum()),
                "predicted": int(mine.sum()),
                "auto_assigned": int(chosen.sum()),
                "auto_rate": round(float(auto[truly].mean()), 4) if truly.any() else None,
                "auto_precision": round(float(correct[chosen].mean()), 4) if chosen.any() else None,
                "precision": round(float(correct[mine].mean()), 4) if mine.any() else None,
                "recall": round(float(correct[truly].mean()), 4) if truly.any() else None,
            }
        )
    return {
        "items": len(labels),
        "threshold": threshold,
        "auto_rate": round(float(auto.mean()), 4) if len(auto) else 0.0,
        "auto_precision": round(float(correct[auto].mean()), 4) if auto.any() else None,
        "expected_calibration_error": round(float(ece), 4),
        "bins": rows,
        "per_department": per_department,
    }
