"""Co-handling suggestions: two likely departments become a lead and a co-handling unit."""

import pytest

from feedbackloop.events import Candidate
from services.router.cohandling import MIN_PAIR, MIN_SECOND, co_handling

NAMES = {"housing": "市住房和城乡建设局", "environment": "市生态环境局", "civil": "市民政局"}
CATEGORIES = {"housing": "城乡建设", "environment": "环境保护", "civil": "民政"}


def ranked(*pairs: tuple[str, float]) -> list[Candidate]:
    return [
        Candidate(
            department_code=code,
            department_name=NAMES[code],
            category=CATEGORIES[code],
            probability=probability,
        )
        for code, probability in pairs
    ]


def test_two_likely_departments_are_suggested_first_as_lead_second_as_co_unit() -> None:
    candidates = ranked(("housing", 0.55), ("environment", 0.38), ("civil", 0.04))
    found = co_handling(candidates)
    assert found is not None
    assert (found.lead, found.co) == (candidates[0], candidates[1])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (0.78, 0.12),  # one department, a little unsure: the second is no contender
        (0.7, 0.2),  # the pair holds 0.9, but the second is below a quarter
        (0.45, 0.3),  # two contenders, but 0.25 elsewhere: the model cannot place it
        (0.34, 0.33),  # spread over three departments
    ],
)
def test_no_suggestion_unless_both_are_likely_and_hold_most_of_the_belief(
    first: float, second: float
) -> None:
    assert co_handling(ranked(("housing", first), ("environment", second))) is None


def test_the_floors_are_inclusive_on_rounded_probabilities() -> None:
    assert (MIN_SECOND, MIN_PAIR) == (0.25, 0.85)
    assert co_handling(ranked(("housing", 0.6), ("environment", 0.25))) is not None
    assert co_handling(ranked(("housing", 0.61), ("environment", 0.24))) is None
    assert co_handling(ranked(("housing", 0.5999), ("environment", 0.25))) is None


def test_fewer_than_two_departments_or_the_same_one_twice_give_none() -> None:
    assert co_handling([]) is None
    assert co_handling(ranked(("housing", 0.6))) is None
    assert co_handling(ranked(("housing", 0.5), ("housing", 0.45))) is None


def test_the_floors_can_be_tuned() -> None:
    candidates = ranked(("housing", 0.6), ("civil", 0.2))
    assert co_handling(candidates) is None
    assert co_handling(candidates, min_second=0.2, min_pair=0.8) is not None
    assert co_handling(candidates, min_second=0.2, min_pair=0.9) is None
