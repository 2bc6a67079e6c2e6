"""Co-handling suggestions (多部门协同): triage items that two departments are both likely for.

Some citizen items touch two units at once: a building site's night noise is housing's
(城乡建设) and environment's (环境保护). When the model splits its belief between two
departments, the triage card suggests the pair, so that the operator can make the first the
lead unit (主办) and the second the co-handling unit (协办) with one click; the assignment
then carries the co-unit (`FeedbackRouted.co_handlers`) and followup runs both units' work.
"""

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from feedbackloop.events import Candidate

# Chosen on the raw dev set's triage items (`python -m bench.cohandling --sweep`): those
# below the confidence threshold that no operator rule matched, the only items the
# suggestion is shown for. The probabilities are calibrated, so MIN_SECOND is about the
# chance that the second department is the right one: a quarter asks for a real contender,
# while a lower floor puts the line on many more cards whose second unit is right less than
# one time in five. MIN_PAIR keeps the suggestion to items whose belief sits on two
# departments rather than spread over three or more: from 0.85 up, the pair holds the
# labelled department for at least 95% of the suggested items (at 0.75, 92%).
MIN_SECOND = 0.25
MIN_PAIR = 0.85


class CoHandling(BaseModel):
    """A suggested pair of departments for one item: a lead unit and a co-handling unit."""

    model_config = ConfigDict(frozen=True)

    lead: Candidate = Field(description="Suggested lead unit (主办), the model's first choice.")
    co: Candidate = Field(
        description="Suggested co-handling unit (协办), the model's second choice."
    )


def co_handling(
    candidates: Sequence[Candidate],
    *,
    min_second: float = MIN_SECOND,
    min_pair: float = MIN_PAIR,
) -> CoHandling | None:
    """The lead and co-handling units to suggest for an item, or None.

    `candidates` are the model's departments, most likely first (as `candidates_for` gives
    them). A pair is suggested when the second candidate is another department, its own
    probability is at least `min_second`, and the first two together hold at least
    `min_pair`. The floor on the second asks that both units be likely, not just the first
    one unsure; the floor on the pair tells an item about two departments from one the
    model cannot place at all, for which naming two units would mislead.
    """
    if len(candidates) < 2:
        return None
    lead, co = candidates[0], candidates[1]
    if lead.department_code == co.department_code:
        return None
    # Candidates carry 4 decimals; rounding the sum keeps 0.6 + 0.25 on the right side.
    pair = round(lead.probability + co.probability, 4)
    if co.probability < min_second or pair < min_pair:
        return None
    return CoHandling(lead=lead, co=co)
