"""Monthly scoring (考核): units ranked on their 三率 with configurable weights and deductions.

A 12345 centre ranks its units every month on 响应率, 解决率 and 满意率 (weights such as
30/35/35) and deducts points for each late acceptance (签收超时) and late completion (办结超时).
The weights live in `scoring.yaml` (path in FEEDBACKLOOP_METRICS_SCORING_PATH) and are applied
when a ranking is asked for, to counts the fold keeps per month from the events. Changing a
weight therefore re-ranks past months consistently, with no re-reading of anything.

score = 100 x (sum of weight x rate) / (sum of the weights of the rates the unit has)
        - late acceptances x its deduction - late completions x its deduction

A unit without surveys in the month has no 解决率 or 满意率; its score then rests on the rates
it has, so a unit is neither rewarded nor punished for a rate nobody could measure.
"""

from collections import Counter as Tally
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.metrics.fold import EventFold
from services.metrics.rates import rates_of

DEFAULT_PATH = Path(__file__).with_name("scoring.yaml")
RATES = ("response", "resolution", "satisfaction")


class Weights(BaseModel):
    """The scoring rules of `scoring.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response: float = Field(30, ge=0, description="Weight of 响应率 (points at 100%)")
    resolution: float = Field(35, ge=0, description="Weight of 解决率")
    satisfaction: float = Field(35, ge=0, description="Weight of 满意率")
    late_acceptance: float = Field(
        0.5, ge=0, description="Points deducted per assignment not accepted in time (签收超时)"
    )
    late_completion: float = Field(
        1.0, ge=0, description="Points deducted per resolution deadline missed (办结超时)"
    )


def load_weights(path: Path = DEFAULT_PATH) -> Weights:
    """Read the weights; ValueError naming the file and the field if they are not valid."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Weights(**raw)
    except (OSError, yaml.YAMLError, TypeError, ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class MonthlyScore:
    """One unit's line of a month's ranking."""

    rank: int
    department: str
    name: str
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    assignments_due: int
    surveys_answered: int
    late_acceptances: int
    late_completions: int
    #: Points from the rates (0-100), before deductions.
    points: float
    deductions: float
    score: float


def score(tally: Tally[str], *, department: str, name: str, weights: Weights) -> dict[str, Any]:
    """The fields of one unit's `MonthlyScore` (without its rank) from its month's counts."""
    rates = rates_of(department, name, tally)
    present = [
        (getattr(weights, rate), value)
        for rate in RATES
        if (value := getattr(rates, f"{rate}_rate")) is not None
    ]
    total = sum(weight for weight, _ in present)
    points = 100 * sum(weight * value for weight, value in present) / total if total else 0.0
    deductions = (
        tally["late_acceptances"] * weights.late_acceptance
        + tally["late_completions"] * weights.late_completion
    )
    return {
        **vars(rates),
        "late_acceptances": tally["late_acceptances"],
        "late_completions": tally["late_completions"],
        "points": round(points, 2),
        "deductions": round(deductions, 2),
        "score": round(points - deductions, 2),
    }


def rank_month(fold: EventFold, month: str, *, weights: Weights) -> list[MonthlyScore]:
    """The month's units, best score first (ties by unit code); units with no counts left out."""
    rows = [
        score(
            tally,
            department=department,
            name=fold.names.get(department, department),
            weights=weights,
        )
        for department, tally in fold.month_tallies(month).items()
        if tally["due"] or tally["answered"] or tally["late_completions"]
    ]
    rows.sort(key=lambda row: (-row["score"], row["department"]))
    return [MonthlyScore(rank=i, **row) for i, row in enumerate(rows, start=1)]
