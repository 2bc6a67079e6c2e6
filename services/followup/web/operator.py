"""The 12345 centre's page in followup: extension requests (延期申请) waiting for a decision."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response

from feedbackloop.web.forms import ticket_number
from services.followup import views
from services.followup.auth import Role
from services.followup.schemas import DecisionIn
from services.followup.web.common import VisitDep

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/extensions"
DECIDED = {
    "approved": "已同意工单 {} 的延期申请，办结时限已顺延",
    "rejected": "已驳回工单 {} 的延期申请",
}


@router.get(PAGE)
def extensions(visit: VisitDep, done: str = "", ticket: str = "") -> Response:
    """Pending extension requests, oldest first, each with approve and reject buttons."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    pending = views.list_extensions(visit.desk, principal)
    number = ticket_number(ticket)
    flash = DECIDED[done].format(number) if done in DECIDED and number else None
    return visit.render("workbench/extensions.html", pending=pending, flash=flash, error=None)


@router.post("/workbench/tickets/{ticket_no}/extension/decision")
def decide(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    approve: Annotated[str, Form()] = "",
) -> Response:
    """Approve (the deadline moves) or reject a pending request."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    if approve not in ("yes", "no"):
        return visit.problem(422, "请选择审批结果", "请点击“同意延期”或“不同意”。")
    try:
        views.decide_extension(
            ticket_no, DecisionIn(approve=approve == "yes"), visit.desk, principal
        )
    except HTTPException as exc:
        pending = views.list_extensions(visit.desk, principal)
        error = f"工单 {ticket_no}：{exc.detail}"
        return visit.render(
            "workbench/extensions.html", status=exc.status_code, pending=pending, flash=None,
            error=error,
        )  # fmt: skip
    done = "approved" if approve == "yes" else "rejected"
    return visit.redirect(f"{PAGE}?done={done}&ticket={ticket_number(ticket_no)}")
