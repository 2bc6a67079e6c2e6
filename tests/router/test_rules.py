"""The keyword routing table."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from feedbackloop.devstack.config import StackSettings
from feedbackloop.events import DirectAnswer, Priority, RoutingMethod
from services.router.config import DEFAULT_RULES
from services.router.rules import DIRECT, Decision, RuleTable, decide, load_rule_table
from tests import factories


class FixedClassifier:
    """A category model that always answers the same ranking."""

    def __init__(self, *ranked: tuple[str, float]) -> None:
        self.ranked = list(ranked)

    def top(self, text: str, k: int = 3) -> list[tuple[str, float]]:
        return self.ranked[:k]

    def rank(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        return [self.ranked[:k] for _ in texts]


UNSURE = FixedClassifier(("城乡建设", 0.4), ("环境保护", 0.35), ("民政", 0.1))
SURE_ENVIRONMENT = FixedClassifier(("环境保护", 0.93), ("城乡建设", 0.05))


def route(
    table: RuleTable, text: str, classifier: FixedClassifier = UNSURE, **fields: object
) -> Decision:
    item = factories.received(text, **fields).data
    return decide(table=table, item=item, ranked=classifier.top("", 3), threshold=0.77)


DATA = StackSettings().data_dir / "taxonomy.csv"


@pytest.fixture(scope="module")
def table() -> RuleTable:
    return load_rule_table(DEFAULT_RULES)


def test_the_rule_with_most_keyword_hits_wins(table: RuleTable) -> None:
    # "小区" is a housing word, but three water words outvote it.
    decision = route(table, "小区自来水管漏水，已经停水两天了", SURE_ENVIRONMENT)
    assert decision.department_code == "water"
    assert decision.department_name == "市水务局"
    assert decision.method is RoutingMethod.RULE
    assert decision.rule == "供水"


def test_the_title_counts_too(table: RuleTable) -> None:
    assert route(table, "请尽快处理，谢谢", title="小区又停电了").department_code == "power"


def test_a_sure_model_assigns_the_department_of_its_category(table: RuleTable) -> None:
    decision = route(table, "想反映一下这个情况", SURE_ENVIRONMENT)
    assert decision.department_code == "environment"
    assert decision.method is RoutingMethod.MODEL
    assert decision.confidence == 0.93 and decision.category == "环境保护"


def test_an_unsure_model_sends_the_item_to_triage_with_its_top_three(table: RuleTable) -> None:
    decision = route(table, "想咨询一下这个事情怎么办")
    assert decision.department_code == "dispatch"
    assert decision.method is RoutingMethod.TRIAGE
    assert [(c.department_code, c.probability) for c in decision.candidates] == [
        ("housing", 0.4),
        ("environment", 0.35),
        ("civil", 0.1),
    ]


def test_a_direct_answer_goes_to_the_article_s_unit_never_to_triage(table: RuleTable) -> None:
    answer = DirectAnswer(
        article_id=7,
        article_title="计划停水期间的取水点",
        department_code="water",
        answer="停水期间可到社区服务站取水。",
        answered_by="agent:坐席1024",
    )
    decision = route(table, "请问计划停水的时候去哪里取水？", direct_answer=answer)
    assert (decision.department_code, decision.method, decision.rule) == (
        "water",
        RoutingMethod.RULE,
        DIRECT,
    )
    unknown = answer.model_copy(update={"department_code": "mars"})
    assert route(table, "关于我们村的一些情况反映", direct_answer=unknown).method is (
        RoutingMethod.TRIAGE
    )


def test_every_taxonomy_category_has_a_department(table: RuleTable) -> None:
    level1 = {line.split(",")[0] for line in DATA.read_text(encoding="utf-8").splitlines()[1:]}
    assert set(table.categories) == level1


def test_danger_words_make_an_item_urgent(table: RuleTable) -> None:
    decision = route(table, "楼道里闻到煤气味，怀疑燃气泄漏")
    assert decision.department_code == "gas"
    assert decision.priority is Priority.URGENT


def test_a_channel_urgency_hint_is_kept(table: RuleTable) -> None:
    assert route(table, "路灯坏了", priority_hint=Priority.URGENT).priority is Priority.URGENT


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


WORDS = ["停水", "漏水", "停电", "燃气", "暖气", "着火", "被困", "燃气泄漏", "小区", "路灯", "。"]


@given(st.lists(st.sampled_from(WORDS), max_size=8).map("".join))
@settings(max_examples=500, deadline=None)
def test_the_word_scans_say_what_looking_for_each_word_says(text: str) -> None:
    table = load_rule_table(DEFAULT_RULES)
    assert table.is_urgent(text) == any(word in text for word in table.urgent_keywords)
    hits = [sum(k in text for k in rule.keywords) for rule in table.rules]
    expected = table.rules[hits.index(max(hits))] if max(hits) > 0 else None
    assert table.best_rule(text) == expected
