"""The 12345 centre's review page in followup: extension (延期), pause (暂停计时), return
(退单) and unreasonable request (不合理诉求) marks waiting for a decision."""

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException
from fastapi.responses import Response
from pydantic import ValidationError

from feedbackloop.web.forms import ticket_number
from services.followup import centre_views
from services.followup.auth import Principal, Role
from services.followup.schemas import DecisionIn, ReasonIn, ReturnReviewIn, UnreasonableReviewIn
from services.followup.web.common import VisitDep

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/extensions"
DECIDED = {
    "approved": "已同意工单 {} 的延期申请，办结时限已顺延",
    "rejected": "已驳回工单 {} 的延期申请",
    "pause-approved": "已同意工单 {} 的暂停计时申请，计时已暂停",
    "pause-rejected": "已驳回工单 {} 的暂停计时申请，计时继续",
    "unreasonable-accepted": "已认定工单 {} 为不合理诉求，其评价不计入承办单位解决率、满意率",
    "unreasonable-refused": "已对工单 {} 不予认定不合理诉求",
    "return-approved": "已同意工单 {} 退单，正在改派其他承办单位",
    "return-refused": "已不同意工单 {} 退单，原承办单位继续办理",
}


@router.get(PAGE)
def extensions(visit: VisitDep, done: str = "", ticket: str = "") -> Response:
    """Pending extension and pause requests, oldest first, with approve and reject buttons."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    number = ticket_number(ticket)
    flash = DECIDED[done].format(number) if done in DECIDED and number else None
    return _page(visit, principal, flash=flash, error=None)


def _page(
    visit: VisitDep,
    principal: Principal,
    *,
    flash: str | None,
    error: str | None,
    status: int = 200,
) -> Response:
    return visit.render(
        "workbench/extensions.html",
        status=status,
        flash=flash,
        error=error,
        pending=centre_views.list_extensions(visit.desk, principal),
        pauses=centre_views.list_pauses(visit.desk, principal),
        unreasonable=centre_views.list_unreasonable(visit.desk, principal),
        returns=centre_views.list_returns(visit.desk, principal),
    )


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
        centre_views.decide_extension(
            ticket_no, DecisionIn(approve=approve == "yes"), visit.desk, principal
        )
    except HTTPException as exc:
        error = f"工单 {ticket_no}：{exc.detail}"
        return _page(visit, principal, flash=None, error=error, status=exc.status_code)
    done = "approved" if approve == "yes" else "rejected"
    return visit.redirect(f"{PAGE}?done={done}&ticket={ticket_number(ticket_no)}")


@router.post("/workbench/tickets/{ticket_no}/pause/decision")
def decide_pause(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    approve: Annotated[str, Form()] = "",
) -> Response:
    """Approve (the clocks stop now) or reject a department's pause request."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    if approve not in ("yes", "no"):
        return visit.problem(422, "请选择审批结果", "请点击“同意暂停”或“不同意”。")
    try:
        centre_views.decide_pause(
            ticket_no, DecisionIn(approve=approve == "yes"), visit.desk, principal
        )
    except HTTPException as exc:
        error = f"工单 {ticket_no}：{exc.detail}"
        return _page(visit, principal, flash=None, error=error, status=exc.status_code)
    done = "pause-approved" if approve == "yes" else "pause-rejected"
    return visit.redirect(f"{PAGE}?done={done}&ticket={ticket_number(ticket_no)}")


@router.post("/workbench/tickets/{ticket_no}/unreasonable/decision")
def decide_unreasonable(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    accept: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Accept (the ticket leaves the unit's rates) or refuse a unit's 不合理诉求 mark."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    if accept not in ("yes", "no"):
        return visit.problem(422, "请选择审核结果", "请点击“认定不合理”或“不予认定”。")
    try:
        body = UnreasonableReviewIn(accept=accept == "yes", reason=reason[:2000])
    except ValidationError:
        error = f"工单 {ticket_no}：请填写 2 到 500 字的审核意见"
        return _page(visit, principal, flash=None, error=error, status=422)
    try:
        centre_views.review_unreasonable(ticket_no, body, visit.desk, principal)
    except HTTPException as exc:
        error = f"工单 {ticket_no}：{exc.detail}"
        return _page(visit, principal, flash=None, error=error, status=exc.status_code)
    done = "unreasonable-accepted" if body.accept else "unreasonable-refused"
    return visit.redirect(f"{PAGE}?done={done}&ticket={ticket_number(ticket_no)}")


@router.post("/workbench/tickets/{ticket_no}/return/decision")
def decide_return(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    approve: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Approve (the router re-routes the ticket) or refuse (back to the unit) a return."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    if approve not in ("yes", "no"):
        return visit.problem(422, "请选择审核结果", "请点击“同意退单”或“不同意”。")
    try:
        body = ReturnReviewIn(approve=approve == "yes", reason=reason[:2000])
    except ValidationError:
        error = f"工单 {ticket_no}：请填写 2 到 500 字的审核意见"
        return _page(visit, principal, flash=None, error=error, status=422)
    try:
        centre_views.review_return(ticket_no, body, visit.desk, principal)
    except HTTPException as exc:
        error = f"工单 {ticket_no}：{exc.detail}"
        return _page(visit, principal, flash=None, error=error, status=exc.status_code)
    done = "return-approved" if body.approve else "return-refused"
    return visit.redirect(f"{PAGE}?done={done}&ticket={ticket_number(ticket_no)}")


# Two segments after the number: one would be taken for a unit's action on its ticket page.
@router.post("/workbench/tickets/{ticket_no}/repeat/unlink")
def unlink(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Undo a repeat link (重复来电): the ticket runs on its own at the router's unit."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    ticket_no = ticket_no[:20]
    try:
        body = ReasonIn(reason=reason[:2000])
    except ValidationError:
        return visit.problem(422, "请填写理由", "请填写 2 到 500 字的取消关联理由后重试。")
    try:
        centre_views.unlink(ticket_no, body, visit.desk, principal)
    except HTTPException as exc:
        return visit.problem(exc.status_code, "无法取消关联", str(exc.detail))
    return visit.redirect(f"/workbench/tickets/{ticket_number(ticket_no)}")
