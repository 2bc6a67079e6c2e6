"""SLA policies (时限) from YAML, and the deadlines and warning times they give a ticket."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.followup.calendar import BEIJING, WorkingCalendar

DEFAULT_POLICIES = Path(__file__).with_name("sla.yaml")

__all__ = ["BEIJING", "DEFAULT_POLICIES", "Clock", "Limit", "Policy", "SlaBook", "load_sla_book"]


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

    @model_validator(mode="after")
    def _sane(self) -> "SlaBook":
        if not self.policies or self.policies[-1].match != Match():
            raise ValueError("the last policy must match every ticket (match: {})")
        for start, end in self.working_hours:
            if end <= start:
                raise ValueError(f"working period {start}-{end} ends before it starts")
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
