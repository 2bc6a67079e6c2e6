"""直接答复率: consultations and direct answers counted by channel, and their ratio."""

from prometheus_client import generate_latest

from feedbackloop.events import Channel, RequestType, TicketEventKind, TicketState
from services.metrics.fold import EventFold
from tests import factories
from tests.metrics.test_fold import ticket_event, value

K, S = TicketEventKind, TicketState


def test_the_direct_answer_rate_is_direct_answers_over_consultations_per_channel() -> None:
    fold = EventFold(dedup_window=100)
    items = [
        factories.received("请问怎么办理居住证？", request_type=RequestType.CONSULTATION),
        factories.received("请问停水去哪里取水？", request_type=RequestType.CONSULTATION),
        factories.received(
            "公积金怎么提取？", channel=Channel.HOTLINE, request_type=RequestType.CONSULTATION
        ),
        factories.received("投诉商家缺斤少两", request_type=RequestType.COMPLAINT),
        factories.received("路灯坏了"),  # no type: counted in neither
    ]
    for item in items:
        assert fold.apply(item)
    answered = ticket_event(
        items[0].data.ticket_id, K.ANSWERED_DIRECTLY, S.RESOLVED, hours=0, channel="web"
    )
    assert fold.apply(answered)
    assert not fold.apply(answered)  # a redelivery counts once
    fold.apply(ticket_event(items[0].data.ticket_id, K.CLOSED, S.CLOSED, hours=0, channel="web"))
    assert value(fold, "feedbackloop_consultations_total", {"channel": "web"}) == 2
    assert value(fold, "feedbackloop_consultations_total", {"channel": "hotline"}) == 1
    assert value(fold, "feedbackloop_direct_answers_total", {"channel": "web"}) == 1
    assert value(fold, "feedbackloop_direct_answer_rate", {"channel": "web"}) == 0.5
    assert value(fold, "feedbackloop_direct_answer_rate", {"channel": "hotline"}) == 0.0
    assert round(value(fold, "feedbackloop_direct_answer_rate", {"channel": "all"}), 4) == 0.3333


def test_a_direct_answer_leaves_the_units_response_rate_and_open_tickets_alone() -> None:
    fold = EventFold(dedup_window=100)
    item = factories.received("请问怎么办理居住证？", request_type=RequestType.CONSULTATION)
    fold.apply(item)
    ticket_id = item.data.ticket_id
    fold.apply(ticket_event(ticket_id, K.ANSWERED_DIRECTLY, S.RESOLVED, hours=0, channel="web"))
    fold.apply(ticket_event(ticket_id, K.CLOSED, S.CLOSED, hours=0, channel="web"))
    assert fold.tickets == {}
    assert fold.rates() == []  # nothing assigned, nothing due: not in any unit's 三率
    exposition = generate_latest(fold.registry).decode()
    assert 'feedbackloop_direct_answer_rate{channel="all"} 1.0' in exposition


def test_no_consultation_no_rate() -> None:
    fold = EventFold(dedup_window=100)
    fold.apply(factories.received("路灯坏了"))
    assert "feedbackloop_direct_answer_rate{" not in generate_latest(fold.registry).decode()
