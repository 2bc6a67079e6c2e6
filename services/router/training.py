"""Training and evaluating the category model on labelled CSV files."""

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from services.router.classifier import CategoryModel, choose_threshold, fit

#: The promise is >= 97% precision among auto-assigned items. The threshold is chosen on dev
#: (864 items, one item is 0.12 points) and on the raw dev set for 97.5%, so that unseen data
#: keeps the promise.
TARGET_PRECISION = 0.975
MIN_PER_CATEGORY = 5


@dataclass(frozen=True)
class Labelled:
    """Texts and their first-level categories, read from a CSV."""

    texts: list[str]
    labels: list[str]
    source: str


def read_labelled(path: Path, *, text_columns: list[str], label_column: str = "label") -> Labelled:
    """Read a CSV, joining `text_columns` with '。' into the text; unlabelled rows skipped."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in [*text_columns, label_column] if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} has no column(s) {missing}; it has {reader.fieldnames}")
        texts, labels = [], []
        for row in reader:
            label = (row.get(label_column) or "").strip()
            if label:
                texts.append("。".join((row.get(c) or "").strip() for c in text_columns))
                labels.append(label)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Labelled(texts=texts, labels=labels, source=f"{path.name}@{digest}")


def read_corrections(database_url: str) -> Labelled:
    """The categories operators chose for triaged items, as extra training data."""
    from feedbackloop.runtime.sql import create_store
    from services.router import service
    from services.router.models import Base

    sessions = create_store(database_url, Base.metadata)
    with sessions() as session:
        corrections = service.list_corrections(session=session)
    return Labelled(
        texts=[c.text for c in corrections],
        labels=[c.category for c in corrections],
        source=f"corrections:{len(corrections)}",
    )


def evaluate(
    model: CategoryModel, data: Labelled, *, threshold: float | None = None
) -> dict[str, Any]:
    """Quality and speed of a model on labelled data, at its (or a given) threshold."""
    started = time.perf_counter()
    rows = [model.predict_proba([text])[0] for text in data.texts]  # one at a time, as routed
    ms_per_item = (time.perf_counter() - started) * 1000 / max(len(data.texts), 1)
    probabilities = np.vstack(rows) if rows else np.zeros((0, len(model.classes)))
    classes = model.classes
    predicted = [classes[i] for i in probabilities.argmax(1)]
    threshold = model.threshold if threshold is None else threshold
    auto = probabilities.max(1) >= threshold
    truth = np.asarray(data.labels)
    labels = sorted(set(classes) | set(data.labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        data.labels, predicted, labels=labels, zero_division=0
    )
    return {
        "items": len(data.texts),
        "macro_f1": round(float(np.mean([f for f, n in zip(f1, support, strict=True) if n])), 4),
        "accuracy": round(float(accuracy_score(data.labels, predicted)), 4),
        "threshold": threshold,
        "auto_rate": round(float(auto.mean()), 4) if len(auto) else 0.0,
        "auto_precision": round(float((np.asarray(predicted)[auto] == truth[auto]).mean()), 4)
        if auto.any()
        else 0.0,
        "ms_per_item": round(ms_per_item, 3),
        "per_class": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(n),
            }
            for label, p, r, f, n in zip(labels, precision, recall, f1, support, strict=True)
        },
        "labels": labels,
        "confusion": confusion_matrix(data.labels, predicted, labels=labels).tolist(),
    }


def train(
    *,
    train: Labelled,
    dev: Labelled,
    raw: Labelled | None = None,
    extra: Labelled | None = None,
    progress: Callable[[str], None] = lambda _step: None,
) -> tuple[CategoryModel, dict[str, Any]]:
    """Fit on `train` (plus corrections), choose the threshold, and describe the result.

    The threshold is the higher of the two that keep the target precision on `dev` and on
    `raw` (labelled raw text as citizens write it): dev's bodies are cleaned, and a threshold
    chosen on them alone over-promises on production's text.
    """
    texts, labels = list(train.texts), list(train.labels)
    skipped = 0
    if extra:
        # Calibration needs 5 examples of a category; a new one waits until it has them.
        counts = Counter(labels + extra.labels)
        for text, label in zip(extra.texts, extra.labels, strict=True):
            if counts[label] >= MIN_PER_CATEGORY:
                texts.append(text)
                labels.append(label)
            else:
                skipped += 1
    progress("fitting features and the calibrated linear model")
    model = fit(texts, labels)
    progress("choosing the confidence threshold")
    thresholds = {
        "dev": choose_threshold(
            model.predict_proba(dev.texts), dev.labels, model.classes, precision=TARGET_PRECISION
        )
    }
    if raw is not None and raw.texts:
        thresholds["raw"] = choose_threshold(
            model.predict_proba(raw.texts), raw.labels, model.classes, precision=TARGET_PRECISION
        )
    model.threshold = max(thresholds.values())
    progress("evaluating")
    metrics = evaluate(model, dev)
    keys = ("macro_f1", "accuracy", "auto_rate", "auto_precision", "ms_per_item")
    figures = {"dev": {k: metrics[k] for k in keys}}
    if raw is not None and raw.texts:
        raw_metrics = evaluate(model, raw)
        figures["raw"] = {k: raw_metrics[k] for k in keys}
    model.card.update(
        {
            "train_data": train.source,
            "dev_data": dev.source,
            "raw_data": raw.source if raw is not None else None,
            "thresholds": thresholds,
            "corrections": len(extra.texts) - skipped if extra else 0,
            "corrections_skipped": skipped,
            "target_precision": TARGET_PRECISION,
            **figures,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    )
    return model, metrics
