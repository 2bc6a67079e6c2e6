"""Replaying labelled items as the corrections the live loop would have produced.

A centre's corrections come from two places: an operator's choice at triage (the model was
not sure: the item waited below the threshold) and a department's return (退单, the model was
sure and wrong; the item ends at the right unit through re-routing or triage). `replay`
routes each item of a labelled stream as the router would, and stores those two kinds of
correction in the router's own table, where `feedbackloop router train --with-corrections`
reads them. Items the model assigned correctly teach nothing new and leave no correction,
as in the live loop. `split` keeps the items that measure the gain out of the stream.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sklearn.metrics import f1_score
from sqlalchemy.orm import Session, sessionmaker

from services.router import service
from services.router.classifier import CategoryModel, choose_threshold
from services.router.training import TARGET_PRECISION, Labelled


@dataclass(frozen=True)
class Replayed:
    """What the stream did: how many items were triaged, returned, or right at once."""

    triaged: int
    returned: int
    assigned_right: int


def split(data: Labelled, *, share: float, seed: int) -> tuple[Labelled, Labelled]:
    """The stream (about `share` of each category) and the rest, both in a seeded order."""
    if not 0 < share < 1:
        raise ValueError("the stream's share must lie between 0 and 1")
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    stream: list[int] = []
    rest: list[int] = []
    # Per category, so that a small category is in both halves.
    for label in sorted(set(data.labels)):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = round(len(members) * share)
        stream.extend(members[:cut].tolist())
        rest.extend(members[cut:].tolist())

    def subset(indices: list[int], part: str) -> Labelled:
        order = sorted(indices)
        return Labelled(
            texts=[data.texts[i] for i in order],
            labels=[data.labels[i] for i in order],
            source=f"{data.source}:{part}",
        )

    return subset(stream, "stream"), subset(rest, "rest")


def replay(
    *,
    model: CategoryModel,
    stream: Labelled,
    sessions: sessionmaker[Session],
    now: datetime | None = None,
) -> Replayed:
    """Route the stream and store the corrections a centre's people would have made."""
    now = now or datetime.now(UTC)
    probabilities = model.predict_proba(stream.texts)
    predicted = [model.classes[i] for i in probabilities.argmax(1)]
    sure = probabilities.max(1) >= model.threshold
    triaged = returned = right = 0
    with sessions.begin() as session:
        for index, (text, label) in enumerate(zip(stream.texts, stream.labels, strict=True)):
            if sure[index] and predicted[index] == label:
                right += 1
                continue
            source = "return" if sure[index] else "triage"
            if source == "return":
                returned += 1
            else:
                triaged += 1
            service.create_correction(
                session=session,
                ticket_id=f"replay-{index:06d}",
                text=text,
                category=label,
                source=source,
                now=now,
            )
    return Replayed(triaged=triaged, returned=returned, assigned_right=right)


def measure(
    model: CategoryModel, *, dev: Labelled, rest: Labelled, folds: int = 5, seed: int = 0
) -> dict[str, float]:
    """Macro-F1, accuracy and the automatic share and precision of a model on `rest`.

    A model trained on the corrections has seen the stream, so the stream cannot choose its
    threshold. Each fold of `rest` is decided at the threshold that holds on dev and on the
    other folds, the same way for the models before and after: the automatic figures are
    out of fold, as on items the centre has not labelled.
    """
    classes = np.asarray(model.classes)
    probabilities = model.predict_proba(rest.texts)
    predicted = classes[probabilities.argmax(1)]
    confidence = probabilities.max(1)
    truth = np.asarray(rest.labels)
    on_dev = choose_threshold(
        model.predict_proba(dev.texts), dev.labels, model.classes, precision=TARGET_PRECISION
    )
    order = np.random.default_rng(seed).permutation(len(truth))
    auto = np.zeros(len(truth), dtype=bool)
    for fold in range(folds):
        held = order[fold::folds]
        others = np.setdiff1d(order, held)
        threshold = max(
            on_dev,
            choose_threshold(
                probabilities[others],
                truth[others].tolist(),
                model.classes,
                precision=TARGET_PRECISION,
            ),
        )
        auto[held] = confidence[held] >= threshold
    return {
        "macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
        "accuracy": round(float((predicted == truth).mean()), 4),
        "auto_rate": round(float(auto.mean()), 4),
        "auto_precision": round(float((predicted[auto] == truth[auto]).mean()), 4)
        if auto.any()
        else 0.0,
    }
