"""SLA policies (时限) from YAML, and the deadlines and warning times they give a ticket."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.followup.calendar import BEIJING, WorkingCalendar

DEFAULT_POLICIES = Path(__file__).with_name("sla.yaml")

__all__ = [
    "BEIJING",
    "DEFAULT_POLICIES",
    "UNIT",
    "Clock",
    "Ladder",
    "LadderStep",
    "Limit",
    "Policy",
    "SlaBook",
    "load_sla_book",
]

#: The recipient every ladder knows: the unit (承办单位) handling the ticket.
UNIT = "unit"


class Limit(BaseModel):
    """One time limit, in exactly one unit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wall_hours: float | None = Field(default=None, gt=0)
    working_hours: float | None = Field(default=None, gt=0)
    working_days: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_unit(self) -> "Limit":
        units = [self.wall_hours, self.working_hours, self.working_days]
        if sum(u is not None for u in units) != 1:
            raise ValueError("a limit has exactly one of wall_hours, working_hours, working_days")
        return self

    @property
    def on_wall_clock(self) -> bool:
        """True if nights and holidays count."""
        return self.wall_hours is not None


class Match(BaseModel):
    """Which tickets a policy is for; empty lists match everything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    priorities: list[str] = []
    categories: list[str] = []
    departments: list[str] = []
    complex: bool | None = None


class Policy(BaseModel):
    """A named pair of limits: first response (签收) and resolution (办结)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str
    match: Match = Match()
    response: Limit
    resolution: Limit

    def applies(
        self, *, priority: str, category: str | None, department: str, complex_: bool
    ) -> bool:
        """True if this policy is for a ticket with these properties."""
        m = self.match
        return (
            (not m.priorities or priority in m.priorities)
            and (not m.categories or category in m.categories)
            and (not m.departments or department in m.departments)
            and (m.complex is None or m.complex == complex_)
        )


class LadderStep(BaseModel):
    """One step of the 督办 ladder: when, relative to the resolution deadline, and who is told.

    The name is stored as the clock kind `step:<name>`, hence its 11 characters at most.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,10}$")
    label: str = Field(min_length=1, max_length=8)
    before: Limit | None = None
    at: Literal["deadline"] | None = None
    after: Limit | None = None
    notify: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_offset(self) -> "LadderStep":
        given = [self.before is not None, self.at is not None, self.after is not None]
        if sum(given) != 1:
            raise ValueError(
                f"step {self.name!r} has exactly one of before: {{...}}, at: deadline, "
                "after: {...}"
            )
        return self

    @property
    def direction(self) -> int:
        """-1 before the deadline, 0 at it, 1 after it."""
        return -1 if self.before is not None else 1 if self.after is not None else 0

    @property
    def offset(self) -> Limit | None:
        """How far from the deadline (None: at it)."""
        return self.before or self.after


class Ladder(BaseModel):
    """The 督办 ladder: who can be notified, and the steps in the order they fire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Recipient name (as steps list it) -> who that is, in words; `unit` is built in.
    recipients: dict[str, str] = {}
    steps: list[LadderStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _known(self) -> "Ladder":
        if UNIT in self.recipients:
            raise ValueError(f"{UNIT!r} is built in (the ticket's own unit); do not list it")
        names = [step.name for step in self.steps]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"step names must be unique: {', '.join(doubled)}")
        for step in self.steps:
            unknown = [r for r in step.notify if r != UNIT and r not in self.recipients]
            if unknown:
                raise ValueError(
                    f"step {step.name!r} notifies {', '.join(unknown)}, not among the "
                    f"recipients ({', '.join([UNIT, *self.recipients])})"
                )
        return self

    def step(self, name: str) -> LadderStep | None:
        """The step of this name, if the ladder still has one."""
        return next((step for step in self.steps if step.name == name), None)

    def recipient_label(self, name: str, unit: str) -> str:
        """Who a recipient is, in words (`unit` is the ticket's unit, by its name)."""
        return unit if name == UNIT else self.recipients.get(name, name)


def _check_order(ladder: Ladder, day: timedelta) -> None:
    """Steps must be listed in the order they fire (working time; wall hours apart)."""

    def hours(step: LadderStep) -> tuple[bool, float]:
        offset = step.offset
        if offset is None:
            return False, 0.0
        if offset.wall_hours is not None:
            size = offset.wall_hours
        elif offset.working_hours is not None:
            size = offset.working_hours
        else:
            size = (offset.working_days or 0) * day.total_seconds() / 3600
        return offset.on_wall_clock, step.direction * size

    for first, second in zip(ladder.steps, ladder.steps[1:], strict=False):
        (wall_a, a), (wall_b, b) = hours(first), hours(second)
        comparable = first.direction != second.direction or wall_a == wall_b
        if second.direction < first.direction or (comparable and b <= a):
            raise ValueError(
                f"ladder steps must be listed in the order they fire: {second.name!r} comes "
                f"no later than {first.name!r}"
            )


@dataclass(frozen=True)
class Clock:
    """When a limit that started at `started_at` warns and runs out."""

    started_at: datetime
    warn_at: datetime
    due_at: datetime


class SlaBook(BaseModel):
    """The whole SLA configuration."""

    model_config = ConfigDict(extra="forbid")

    warning_at: float = Field(default=0.75, gt=0, lt=1)
    supervisor: str = "12345市民服务热线督办科"
    working_hours: list[tuple[time, time]]
    calendar_overrides: dict[date, bool] = {}
    survey_delay_hours: float = Field(default=24, ge=0)
    survey_window_hours: float = Field(default=72, gt=0)
    max_reopens: int = Field(default=2, ge=0)
    policies: list[Policy]
    #: 主办/协办: how long a co-handling unit has, from being named, to send the lead its
    #: part (协办意见); it signs for the ticket (签收) within the policy's response limit.
    co_part: Limit = Limit(working_days=3)
    #: The 督办 ladder; None: only the warning and the breach of each limit.
    ladder: Ladder | None = None

    @model_validator(mode="after")
    def _sane(self) -> "SlaBook":
        if not self.policies or self.policies[-1].match != Match():
            raise ValueError("the last policy must match every ticket (match: {})")
        for start, end in self.working_hours:
            if end <= start:
                raise ValueError(f"working period {start}-{end} ends before it starts")
        if self.ladder is not None:
            _check_order(self.ladder, self.calendar().working_day)
        return self

    def calendar(self) -> WorkingCalendar:
        """The working calendar these policies count in."""
        return WorkingCalendar(
            periods=list(self.working_hours), overrides=dict(self.calendar_overrides)
        )

    def policy_for(
        self, *, priority: str, category: str | None, department: str, complex_: bool = False
    ) -> Policy:
        """The first policy that applies to a ticket."""
        for policy in self.policies:
            if policy.applies(
                priority=priority, category=category, department=department, complex_=complex_
            ):
                return policy
        raise AssertionError("the last policy matches everything")

    def start(self, calendar: WorkingCalendar, limit: Limit, at: datetime) -> Clock:
        """The clock of a limit starting at `at`."""
        due = self.due(calendar, limit, at)
        return Clock(started_at=at, warn_at=self.warn_at(calendar, limit, at, due), due_at=due)

    @staticmethod
    def due(calendar: WorkingCalendar, limit: Limit, at: datetime) -> datetime:
        """When a limit starting at `at` runs out."""
        if limit.wall_hours is not None:
            return at + timedelta(hours=limit.wall_hours)
        if limit.working_hours is not None:
            return calendar.add(at, timedelta(hours=limit.working_hours))
        assert limit.working_days is not None
        return calendar.end_of_working_days(at, limit.working_days)

    def warn_at(
        self, calendar: WorkingCalendar, limit: Limit, at: datetime, due: datetime
    ) -> datetime:
        """When `warning_at` of the time from `at` to `due` has passed."""
        if limit.on_wall_clock:
            return at + (due - at) * self.warning_at
        return calendar.add(at, calendar.between(at, due) * self.warning_at)

    def remaining(
        self, calendar: WorkingCalendar, limit: Limit, at: datetime, due: datetime
    ) -> timedelta:
        """Time left on a clock at `at`, in the limit's own kind of time."""
        return due - at if limit.on_wall_clock else calendar.between(at, due)

    def resume(
        self, calendar: WorkingCalendar, limit: Limit, at: datetime, left: timedelta
    ) -> datetime:
        """The new deadline of a paused clock that resumes at `at` with `left` to run."""
        return at + left if limit.on_wall_clock else calendar.add(at, left)


def load_sla_book(path: Path = DEFAULT_POLICIES) -> SlaBook:
    """Read and check an SLA policy file."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return SlaBook.model_validate(raw)
