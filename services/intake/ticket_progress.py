"""Answers to a citizen's progress query, from intake's ticket-status read model."""

from sqlalchemy.orm import Session

from feedbackloop.events import TicketState
from services.intake import service
from services.intake.models import TicketStatus
from services.intake.ticket_numbers import BEIJING, is_valid_ticket_no

#: One answer for unknown numbers and other people's tickets, so a query reveals nothing.
NOT_FOUND = "没有找到您提交的这个工单，请核对工单号后再试。只能查询用本微信号提交的工单。"

STATE_LABELS = {
    TicketState.RECEIVED: "已受理",
    TicketState.TRIAGE: "正在人工分派",
    TicketState.ROUTED: "已派单，等待承办单位签收",
    TicketState.ACCEPTED: "承办单位已签收，正在办理",
    TicketState.RETURNED: "已退回，正在重新派单",
    TicketState.RESOLVED: "已办结",
    TicketState.SURVEYED: "已回访",
    TicketState.REOPENED: "重新办理中",
    TicketState.MERGED: "已与相同问题的工单合并办理",
    TicketState.CLOSED: "已结案",
}

# A deadline means something to the citizen only while the ticket is still being worked on.
_RUNNING = {
    TicketState.RECEIVED,
    TicketState.TRIAGE,
    TicketState.ROUTED,
    TicketState.ACCEPTED,
    TicketState.RETURNED,
    TicketState.REOPENED,
}


def progress_answer(*, session: Session, ticket_no: str, openid: str) -> str:
    """The state of a ticket filed by this openid, or NOT_FOUND for anything else."""
    if not is_valid_ticket_no(ticket_no):
        return NOT_FOUND
    submission = service.get_submission_by_ticket_no(session=session, ticket_no=ticket_no)
    if submission is None or submission.wechat_openid != openid:
        return NOT_FOUND
    status = service.get_ticket_status(session=session, ticket_no=ticket_no)
    return describe(ticket_no=ticket_no, status=status)


def describe(*, ticket_no: str, status: TicketStatus | None) -> str:
    """A ticket's state, department and deadline (Beijing time) in a few Chinese lines."""
    if status is None:
        return f"工单 {ticket_no}：已受理，正在派单。"
    try:
        state: TicketState | None = TicketState(status.state)
    except ValueError:  # a state added to the contract after this intake was built
        state = None
    label = STATE_LABELS.get(state, "办理中") if state else "办理中"
    lines = [f"工单 {ticket_no}：{label}。"]
    if status.department_name:
        lines.append(f"承办单位：{status.department_name}")
    if status.due_at is not None and state in _RUNNING:
        due = status.due_at.astimezone(BEIJING)
        lines.append(f"办理时限：{due:%Y年%m月%d日 %H:%M}（北京时间）")
    return "\n".join(lines)
