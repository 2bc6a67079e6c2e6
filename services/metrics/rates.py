"""The 三率 (three rates Beijing assesses departments on) and the counts behind them.

Formulas, per department:

- response rate (响应率) = assignments accepted within the first-response limit
  / (assignments accepted in time + assignments whose first-response limit ran out)
  An assignment is a ticket put in a department's hands: opened, re-routed after a return, or
  reopened after a survey; each starts a first-response limit (签收) for that department.
- resolution rate (解决率) = (solved + partly solved) / answered callback surveys
- satisfaction rate (满意率) = (满意 + 基本满意) / answered callback surveys

An answered survey is one with an answer; no response counts in neither rate. A ticket the
centre found unreasonable (不合理诉求, on the unit's request) counts in neither either: its
answers are taken out of the unit's rates, also when they came before the decision. The
survey outcome counters still count every answer as given.

主办/协办: a co-handling unit's own role counts in its own rates. Being named starts its
first-response limit (its 签收 is in time or late in its 响应率, like an assignment), the
ticket's answered surveys count in its 解决率 and 满意率 as in the lead's, and a part sent
after its limit is a late completion. `co_due` and `co_answered` say how much of a unit's
figures came from co-handling.

Every count behind the rates is kept per Beijing calendar month of the event that made it
(an acceptance in the month it happened, a survey in the month it was answered), so the
monthly scoring (`scoring.py`) and the live rates come from the same tallies: the live rates
are the sums over all months.
"""

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from feedbackloop.events import TicketEvent, TicketEventKind

K = TicketEventKind
BEIJING = ZoneInfo("Asia/Shanghai")
#: A (Beijing month, department) pair: where a count is kept.
Key = tuple[str, str]


def month_of(moment: datetime) -> str:
    """The Beijing calendar month of a moment, as YYYY-MM."""
    return moment.astimezone(BEIJING).strftime("%Y-%m")


@dataclass(frozen=True)
class DepartmentRates:
    """A department's 三率 (None where nothing has been counted yet) and what they count."""

    department: str
    name: str
    response_rate: float | None
    resolution_rate: float | None
    satisfaction_rate: float | None
    #: Assignments that were accepted in time or ran out of time (响应率's denominator).
    assignments_due: int
    #: Answered callback surveys (解决率's and 满意率's denominator).
    surveys_answered: int


def rates_of(department: str, name: str, tally: Tally[str]) -> DepartmentRates:
    """A department's 三率 from its counts (of a month, or of all time)."""
    due, answered = tally["due"], tally["answered"]
    return DepartmentRates(
        department=department,
        name=name,
        response_rate=tally["in_time"] / due if due else None,
        resolution_rate=tally["solved"] / answered if answered else None,
        satisfaction_rate=tally["satisfied"] / answered if answered else None,
        assignments_due=due,
        surveys_answered=answered,
    )


@dataclass
class CoRole:
    """A co-handling unit's part in one open ticket, as its rates need it."""

    awaiting_response: bool = True
    response_breached: bool = False


class RateBook:
    """The counts behind every unit's 三率 and the scoring's deductions, per month.

    Per (month, department): in_time and due (响应率), answered, solved and satisfied
    (解决率, 满意率), late_acceptances and late_completions (the scoring's deductions),
    co_due and co_answered (of those, from co-handling).
    """

    def __init__(self) -> None:
        self.tallies: dict[Key, Tally[str]] = {}
        #: 不合理诉求: what each answered survey of a ticket awaiting the centre's decision
        #: added to the tallies (taken back if the centre accepts), and the accepted tickets.
        self.claims: dict[str, list[tuple[Key, Tally[str]]]] = {}
        self.excluded: set[str] = set()

    def tally(self, department: str, moment: datetime, **counts: int) -> Key:
        """Add counts to a department's month (the month of `moment`)."""
        key = (month_of(moment), department)
        self.tallies.setdefault(key, Tally()).update(counts)
        return key

    def month_tallies(self, month: str | None) -> dict[str, Tally[str]]:
        """Per department, the counts of one month (YYYY-MM), or of all months."""
        out: dict[str, Tally[str]] = {}
        for (at, department), tally in self.tallies.items():
            if month is None or at == month:
                out.setdefault(department, Tally()).update(tally)
        return out

    def months(self) -> list[str]:
        """The months anything was counted in, oldest first."""
        return sorted({month for month, _ in self.tallies})

    def department_rates(self, names: dict[str, str]) -> list[DepartmentRates]:
        """Every department's 三率 over all months, by code."""
        return [
            rates_of(department, names.get(department, department), tally)
            for department, tally in sorted(self.month_tallies(None).items())
            if tally["due"] or tally["answered"]
        ]

    def unreasonable(self, data: TicketEvent) -> None:
        """A unit's 不合理诉求 mark (on resolved) and the centre's decision on it."""
        if data.kind is K.RESOLVED and data.unreasonable == "claimed":
            self.claims.setdefault(data.ticket_id, [])
        elif data.kind is K.UNREASONABLE_REVIEWED:
            added = self.claims.pop(data.ticket_id, [])
            if data.unreasonable == "accepted":
                self.excluded.add(data.ticket_id)
                for key, counts in added:
                    self.tallies[key].subtract(counts)

    def survey(self, department: str, data: TicketEvent, *, co: bool = False) -> None:
        """An answered survey in a unit's 解决率 and 满意率 (the lead's, or a co-unit's)."""
        if data.satisfaction in (None, "no_response") or data.ticket_id in self.excluded:
            return  # unanswered, or the centre found the request unreasonable
        counts = {
            "answered": 1,
            "satisfied": int(data.satisfaction in ("satisfied", "basically")),
            "solved": int(data.solved in ("solved", "partly")),
        }
        if co:
            counts["co_answered"] = 1
        key = self.tally(department, data.occurred_at, **counts)
        if data.ticket_id in self.claims:
            self.claims[data.ticket_id].append((key, Tally(counts)))

    def co_handling(self, co: dict[str, CoRole], data: TicketEvent) -> None:
        """A co-handling unit's own role in a ticket whose co-units are `co`: named, 签收 in
        time or late, its part late, withdrawn.

        A co-unit's 签收 counts in its 响应率 as a lead's does; a part sent late is a late
        completion (the scoring's deduction) of that unit.
        """
        code = data.co_department_code
        assert code is not None
        if data.kind is K.COHANDLER_ASSIGNED:
            co[code] = CoRole()
            return
        role = co.get(code)
        if role is None:
            return
        if data.kind is K.COHANDLER_ACCEPTED:
            if role.awaiting_response and not role.response_breached:
                self.tally(code, data.occurred_at, in_time=1, due=1, co_due=1)
            role.awaiting_response = False
        elif data.kind is K.COHANDLER_OVERDUE and data.clock == "response":
            if role.awaiting_response and not role.response_breached:
                role.response_breached = True
                self.tally(code, data.occurred_at, due=1, late_acceptances=1, co_due=1)
        elif data.kind is K.COHANDLER_OVERDUE and data.clock == "part":
            self.tally(code, data.occurred_at, late_completions=1)
        elif data.kind is K.COHANDLER_WITHDRAWN:
            del co[code]
