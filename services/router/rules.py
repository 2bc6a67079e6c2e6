"""The keyword routing table: loading it from YAML and applying it to an item."""

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from feedbackloop.events import FeedbackReceived, Priority, RoutingMethod
from feedbackloop.events.topics import queue_topic


class Rule(BaseModel):
    """Keywords that send an item to one department."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    department: str
    keywords: tuple[str, ...] = Field(min_length=1)


class RuleTable(BaseModel):
    """Departments, keyword rules, the fallback department and the urgency words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_department: str
    departments: dict[str, str] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()
    urgent_keywords: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _known_departments(self) -> "RuleTable":
        for code in self.departments:
            queue_topic(code)  # raises for a code that cannot name a topic
        unknown = {r.department for r in self.rules} | {self.default_department}
        unknown -= set(self.departments)
        if unknown:
            raise ValueError(f"rules name departments that are not listed: {sorted(unknown)}")
        return self


@dataclass(frozen=True)
class Decision:
    """Where an item goes and why."""

    department_code: str
    department_name: str
    method: RoutingMethod
    confidence: float
    priority: Priority
    rule: str | None


def load_rule_table(path: Path) -> RuleTable:
    """Read and validate a routing table from YAML."""
    return RuleTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def decide(*, table: RuleTable, item: FeedbackReceived) -> Decision:
    """Apply the table to an item: the rule with most keyword hits wins, else the default."""
    text = f"{item.title or ''}\n{item.text}"
    best: Rule | None = None
    best_hits = 0
    for rule in table.rules:
        hits = sum(1 for keyword in rule.keywords if keyword in text)
        if hits > best_hits:
            best, best_hits = rule, hits
    urgent = item.priority_hint is Priority.URGENT or any(w in text for w in table.urgent_keywords)
    priority = Priority.URGENT if urgent else (item.priority_hint or Priority.NORMAL)
    if best is None:
        code = table.default_department
        return Decision(code, table.departments[code], RoutingMethod.DEFAULT, 0.0, priority, None)
    code = best.department
    return Decision(code, table.departments[code], RoutingMethod.RULE, 1.0, priority, best.name)
