"""The centre's 主办/协办 forms on an operator's ticket page: name a co-unit, withdraw one
(see `services.followup.cohandling`). A co-unit's own forms are on its ticket page
(`department`), as the lead's are."""

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from feedbackloop.web.forms import ticket_number
from services.followup import cohandling_views
from services.followup.auth import Role
from services.followup.schemas import CoHandlersIn, ReasonIn
from services.followup.web.common import VisitDep

router = APIRouter(include_in_schema=False)
DONE = {
    "co-added": "已增加协办单位，协办单位签收并提交意见后由主办单位办结",
    "co-withdrawn": "已撤回协办单位",
}


# Two segments after the number: one would be taken for a unit's action on its ticket page.
@router.post("/workbench/tickets/{ticket_no}/cohandlers/add")
def add(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    department_code: Annotated[str, Form(max_length=48)] = "",
) -> Response:
    """协办: the unit chosen in the form joins the ticket's lead unit."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    body = visit.form_body(
        lambda: CoHandlersIn(department_codes=[department_code.strip()]),
        title="请选择协办单位",
        message="请从列表中选择一个协办单位后重试。",
    )
    visit.attempt(
        lambda: cohandling_views.assign(ticket_no[:20], body, visit.desk, principal),
        failed="无法增加协办单位",
    )
    return visit.redirect(f"/workbench/tickets/{ticket_number(ticket_no)}?done=co-added")


@router.post("/workbench/tickets/{ticket_no}/cohandlers/{department_code}/withdraw")
def withdraw(
    ticket_no: str,
    department_code: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Take a co-unit off the ticket, with the reason."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    body = visit.form_body(
        lambda: ReasonIn(reason=reason[:2000]),
        title="请填写理由",
        message="请填写 2 到 500 字的撤回理由后重试。",
    )
    visit.attempt(
        lambda: cohandling_views.withdraw(
            ticket_no[:20], department_code[:48], body, visit.desk, principal
        ),
        failed="无法撤回协办单位",
    )
    return visit.redirect(f"/workbench/tickets/{ticket_number(ticket_no)}?done=co-withdrawn")
