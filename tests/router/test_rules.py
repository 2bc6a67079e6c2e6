"""The keyword routing table."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from feedbackloop.events import Priority, RoutingMethod
from services.router.config import DEFAULT_RULES
from services.router.rules import RuleTable, decide, load_rule_table
from tests import factories


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return load_rule_table(DEFAULT_RULES)


def test_the_rule_with_most_keyword_hits_wins(table: RuleTable) -> None:
    # "小区" is a housing word, but three water words outvote it.
    item = factories.received("小区自来水管漏水，已经停水两天了").data
    decision = decide(table=table, item=item)
    assert decision.department_code == "water"
    assert decision.department_name == "市水务局"
    assert decision.method is RoutingMethod.RULE
    assert decision.rule == "供水排水"


def test_the_title_counts_too(table: RuleTable) -> None:
    item = factories.received("请尽快处理，谢谢", title="幼儿园招生问题").data
    assert decide(table=table, item=item).department_code == "education"


def test_an_item_no_rule_matches_goes_to_the_dispatch_desk(table: RuleTable) -> None:
    decision = decide(table=table, item=factories.received("想咨询一下这个事情怎么办").data)
    assert decision.department_code == "dispatch"
    assert decision.method is RoutingMethod.DEFAULT
    assert decision.confidence == 0.0


def test_danger_words_make_an_item_urgent(table: RuleTable) -> None:
    decision = decide(table=table, item=factories.received("楼道里闻到煤气味，怀疑燃气泄漏").data)
    assert decision.department_code == "gas"
    assert decision.priority is Priority.URGENT


def test_a_channel_urgency_hint_is_kept(table: RuleTable) -> None:
    item = factories.received("路灯坏了", priority_hint=Priority.URGENT).data
    assert decide(table=table, item=item).priority is Priority.URGENT


def test_the_default_table_lists_valid_departments(table: RuleTable) -> None:
    assert table.default_department in table.departments
    assert len(table.departments) >= 15
    assert all(rule.department in table.departments for rule in table.rules)


def test_a_table_naming_an_unknown_department_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "default_department: water\ndepartments: {water: 水务局}\n"
        "rules: [{name: x, department: nowhere, keywords: [水]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError, match="nowhere"):
        load_rule_table(path)
