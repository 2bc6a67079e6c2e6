"""The Chinese texts citizens receive."""

from datetime import UTC, datetime

import pytest

from services.followup.notify.texts import REPLY_LIMIT, TITLES, Purpose, render, template_data

NO = "2611221000014"


def test_each_purpose_reads_as_a_short_polite_sentence() -> None:
    due = datetime(2026, 12, 1, 16, 30, tzinfo=UTC)  # 2 December in Beijing
    assert render("accepted", ticket_no=NO, department="市水务局") == (
        "您反映的问题（工单号2611221000014）已由市水务局签收办理。"
    )
    assert render(Purpose.REPLIED, ticket_no=NO, department="市水务局", reply="明天上门。") == (
        "您反映的问题（工单号2611221000014）市水务局已答复：明天上门。"
    )
    assert render("resolved", ticket_no=NO, department="市水务局", reply="水管已修复。") == (
        "您反映的问题（工单号2611221000014）已由市水务局办结。办理结果：水管已修复。"
    )
    assert render("survey", ticket_no=NO, link="https://12345.example.gov.cn/s/abc") == (
        "您反映的问题（工单号2611221000014）已办结，请对本次办理进行评价："
        "https://12345.example.gov.cn/s/abc"
    )
    assert render("reopened", ticket_no=NO, department="市水务局") == (
        "您反映的问题（工单号2611221000014）已重新交由市水务局办理，我们会继续跟进。"
    )
    assert render("extended", ticket_no=NO, department="市水务局", due_at=due) == (
        "您反映的问题（工单号2611221000014）办理时限延长至12月2日，"
        "市水务局正在抓紧办理，感谢您的耐心。"
    )


def test_missing_details_still_make_a_sentence() -> None:
    assert render("accepted", ticket_no=NO) == (
        "您反映的问题（工单号2611221000014）已由承办单位签收办理。"
    )
    assert render("survey", ticket_no=NO).endswith("请问您对本次办理结果是否满意？")
    assert render("resolved", ticket_no=NO, reply="  ").endswith("办结。")
    assert render("accepted", ticket_no=NO, link="https://x.cn/t").endswith("详情：https://x.cn/t")


def test_a_long_reply_is_cut() -> None:
    text = render("replied", ticket_no=NO, reply="很" * 1000)
    assert text.endswith("…")
    assert text.count("很") == REPLY_LIMIT - 1


def test_an_unknown_purpose_is_refused() -> None:
    with pytest.raises(ValueError):
        render("congratulations", ticket_no=NO)


def test_template_fields_fit_wechats_limits() -> None:
    assert template_data(ticket_no=NO, purpose="survey") == {
        "character_string1": NO,
        "thing2": "邀请您评价办理结果",
    }
    assert set(TITLES) == set(Purpose)
    assert all(len(title) <= 20 for title in TITLES.values())


def test_a_purpose_without_a_title_gets_a_generic_one() -> None:
    assert template_data(ticket_no=NO, purpose="reply") == {
        "character_string1": NO,
        "thing2": "诉求办理进度更新",
    }
