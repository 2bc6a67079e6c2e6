"""直接答复 (direct answer): a consultation answered at intake is closed here at once.

A 12345 agent (or the WeChat channel) answered a consultation (咨询) with a knowledge-base
article, so no department has anything left to do. The ticket is opened in the article's
department, since that unit's article is what the citizen was told, whatever the router
guessed from the words, and closed in the same transaction: the reply is the answer as given,
the article is recorded, and no clock is started, so nothing can warn, breach or invite a
survey later. Two events tell the rest of the loop: `answered_directly` (counted as a direct
answer by metrics) and `closed`.

The router still decides on the item (it cannot tell a direct answer from another item), so
a later decision about the same ticket, an operator's assignment at triage for one, finds it
closed and is ignored instead of being parked as a dead letter.
"""

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from feedbackloop.events import (
    DirectAnswer,
    Envelope,
    FeedbackRouted,
    TicketEvent,
    TicketEventKind,
    TicketState,
    deterministic_event_id,
)
from services.followup import service
from services.followup.knowledge.models import Article
from services.followup.models import Credential, Ticket
from services.followup.publication import service as publication

log = logging.getLogger(__name__)
K = TicketEventKind


def department_name(*, session: Session, code: str, routed: FeedbackRouted) -> str:
    """The name of a department, as routing, earlier tickets or its credential call it."""
    if code == routed.department_code:
        return routed.department_name
    earlier = session.execute(
        select(Ticket.department_name).where(Ticket.department_code == code).limit(1)
    ).scalar_one_or_none()
    if earlier:
        return earlier
    credential = session.execute(
        select(Credential.name)
        .where(Credential.department_code == code, Credential.role == "department")
        .limit(1)
    ).scalar_one_or_none()
    return credential or code


def _department(session: Session, answer: DirectAnswer) -> str:
    """The article's department as the knowledge base has it now (it may have moved)."""
    article = session.get(Article, answer.article_id)
    return article.department_code if article is not None else answer.department_code


def answer(*, session: Session, routed: Envelope[FeedbackRouted]) -> Envelope[TicketEvent] | None:
    """Open and close the ticket of a directly answered consultation; the closing event.

    None when the ticket exists already (a later routing decision about it).
    """
    decision = routed.data
    item = decision.feedback
    given = item.direct_answer
    assert given is not None
    if session.get(Ticket, item.ticket_id) is not None:
        log.info("routing of directly answered ticket %s ignored", item.ticket_no)
        return None
    code = _department(session, given)
    name = department_name(session=session, code=code, routed=decision)  # before the add
    # Nothing is due: the answer was given when the citizen asked.
    ticket = service.create_ticket(session=session, item=item, caller_key=None)
    ticket.state = TicketState.RESOLVED.value
    ticket.priority, ticket.category = decision.priority.value, decision.category
    ticket.department_code, ticket.department_name = code, name
    ticket.routing_method, ticket.routing_confidence = decision.method.value, decision.confidence
    ticket.routed_at = decision.routed_at
    ticket.reply = given.answer
    ticket.direct_article_id = given.article_id
    # The citizen had the answer the moment intake took the item.
    answered_at = item.received_at
    ticket.accepted_at = ticket.resolved_at = answered_at
    service.create_event(
        session=session,
        ticket=ticket,
        kind=K.ANSWERED_DIRECTLY,
        state_from=None,
        actor=given.answered_by,
        reason=f"直接答复（咨询）：依据知识库文章《{given.article_title}》",
        now=answered_at,
        event_id=deterministic_event_id(routed.id, "answered"),
        article_id=given.article_id,
    )
    ticket.state = TicketState.CLOSED.value
    ticket.closed_at = answered_at
    closed = service.create_event(
        session=session,
        ticket=ticket,
        kind=K.CLOSED,
        state_from=TicketState.RESOLVED.value,
        actor="system",
        reason="咨询类诉求已直接答复，办结",
        now=answered_at,
        event_id=deterministic_event_id(routed.id, "closed"),
    )
    # 公开: a consultation answered from an article has its reply, so it may be published.
    publication.sync(session=session, ticket=ticket, actor="system", now=answered_at)
    return closed
