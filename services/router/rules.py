"""The routing table and the routing decision: operator rules, then the model, then triage."""

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from feedbackloop.events import Candidate, FeedbackReceived, Priority, RoutingMethod
from feedbackloop.events.topics import queue_topic


class Rule(BaseModel):
    """Keywords that send an item to one department, whatever the model says."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    department: str
    keywords: tuple[str, ...] = Field(min_length=1)


class RuleTable(BaseModel):
    """Departments, category mapping, operator rules, the dispatch desk and urgency words."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    default_department: str
    departments: dict[str, str] = Field(min_length=1)
    categories: dict[str, str] = Field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    urgent_keywords: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _known_departments(self) -> "RuleTable":
        for code in self.departments:
            queue_topic(code)  # raises for a code that cannot name a topic
        named = {r.department for r in self.rules} | {self.default_department}
        unknown = (named | set(self.categories.values())) - set(self.departments)
        if unknown:
            raise ValueError(f"the table names departments that are not listed: {sorted(unknown)}")
        return self

    # One regular expression per word list: a single scan of the text instead of one `in`
    # per word (a tenth of the time), and most texts contain none of the words. Cached
    # properties, not pydantic private attributes, whose every read goes through __getattr__.
    @functools.cached_property
    def _urgent(self) -> re.Pattern[str] | None:
        return _any_of(self.urgent_keywords)

    @functools.cached_property
    def _rule_words(self) -> re.Pattern[str] | None:
        return _any_of(tuple(k for rule in self.rules for k in rule.keywords))

    def is_urgent(self, text: str) -> bool:
        """Whether a text contains one of the urgency words."""
        return self._urgent is not None and self._urgent.search(text) is not None

    def best_rule(self, text: str) -> Rule | None:
        """The rule with most keywords in the text (the first listed among equals), if any."""
        if self._rule_words is None or self._rule_words.search(text) is None:
            return None
        best: Rule | None = None
        best_hits = 0
        for rule in self.rules:
            hits = sum(1 for keyword in rule.keywords if keyword in text)
            if hits > best_hits:
                best, best_hits = rule, hits
        return best


def _any_of(words: tuple[str, ...]) -> re.Pattern[str] | None:
    # Longest first, so that an alternation never stops at a shorter word's prefix.
    ordered = sorted(set(words), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


class Classifier(Protocol):
    """What routing needs of the category model."""

    def rank(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """For each text, the k most likely categories, most likely first."""
        ...


@dataclass(frozen=True)
class Decision:
    """Where an item goes and why."""

    department_code: str
    department_name: str
    method: RoutingMethod
    confidence: float
    priority: Priority
    rule: str | None = None
    category: str | None = None
    candidates: list[Candidate] = field(default_factory=list)


def load_rule_table(path: Path) -> RuleTable:
    """Read and validate a routing table from YAML."""
    return RuleTable.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def text_of(item: FeedbackReceived) -> str:
    """What rules and the model read of an item: its title and its text."""
    return f"{item.title or ''}\n{item.text}"


#: The rule name of an item answered directly (直接答复) from a knowledge-base article.
DIRECT = "直接答复"


def decide(
    *,
    table: RuleTable,
    item: FeedbackReceived,
    ranked: list[tuple[str, float]],
    threshold: float,
) -> Decision:
    """Operator rules win; else the model if it is sure enough; else the dispatch desk (triage).

    `ranked` is the model's ranking of categories for the item, most likely first.
    """
    text = text_of(item)
    urgent = item.priority_hint is Priority.URGENT or table.is_urgent(text)
    priority = Priority.URGENT if urgent else (item.priority_hint or Priority.NORMAL)
    candidates = candidates_for(table, ranked, limit=3)
    answered = item.direct_answer
    if answered is not None and answered.department_code in table.departments:
        # 直接答复: answered on the spot from the article's unit; nobody dispatches it.
        code = answered.department_code
        category = next((c.category for c in candidates if c.department_code == code), None)
        return Decision(
            code,
            table.departments[code],
            RoutingMethod.RULE,
            1.0,
            priority,
            DIRECT,
            category,
            candidates,
        )
    best = table.best_rule(text)
    if best is not None:
        code = best.department
        category = candidates[0].category if candidates else None
        return Decision(
            code,
            table.departments[code],
            RoutingMethod.RULE,
            1.0,
            priority,
            best.name,
            category,
            candidates,
        )
    if candidates and candidates[0].probability >= threshold:
        top = candidates[0]
        return Decision(
            top.department_code,
            top.department_name,
            RoutingMethod.MODEL,
            top.probability,
            priority,
            None,
            top.category,
            candidates,
        )
    code = table.default_department
    confidence = candidates[0].probability if candidates else 0.0
    category = candidates[0].category if candidates else None
    return Decision(
        code,
        table.departments[code],
        RoutingMethod.TRIAGE,
        confidence,
        priority,
        None,
        category,
        candidates,
    )


def candidates_for(
    table: RuleTable, ranked: list[tuple[str, float]], *, limit: int | None = None
) -> list[Candidate]:
    """Departments in the order of the model's ranking of their categories (each once)."""
    seen: set[str] = set()
    found: list[Candidate] = []
    for category, probability in ranked:
        if limit is not None and len(found) >= limit:
            break
        code = table.categories.get(category)
        if code is not None and code not in seen:
            seen.add(code)
            found.append(
                Candidate(
                    department_code=code,
                    department_name=table.departments[code],
                    category=category,
                    probability=round(min(max(probability, 0.0), 1.0), 4),
                )
            )
    return found
