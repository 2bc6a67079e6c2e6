"""The centre's 并单拆分 page: the router's near-duplicate pairs with a one-click merge, and
the merge, split and undo forms of an operator's ticket page (see `services.followup.merges`)."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from feedbackloop.web.forms import ticket_number
from services.followup import merge_views
from services.followup.auth import Role
from services.followup.schemas import MergeIn, PartIn, ReasonIn, SplitIn
from services.followup.web.common import VisitDep

router = APIRouter(include_in_schema=False)
PAGE = "/workbench/merges"
#: The reason a one-click merge from the suggestions records.
SAME_MATTER = "与主工单反映同一问题，并单办理"
DONE = {
    "merged": "已将工单 {} 并入主工单，主工单办结时其市民一并收到答复和回访",
    "split": "已拆分工单 {}，拆分出的诉求正在分别派单",
    "unsplit": "已撤销工单 {} 的拆分，原工单转人工分派",
}


@router.get(PAGE)
def suggestions(visit: VisitDep, done: str = "", ticket: str = "") -> Response:
    """The near-duplicate pairs, newest first, each with a 并单 button."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    number = ticket_number(ticket)
    return visit.render(
        "workbench/merges.html",
        flash=DONE[done].format(number) if done in DONE and number else None,
        pairs=merge_views.list_suggestions(visit.desk, principal),
    )


def _back(visit: VisitDep, ticket_no: str, done: str, came_from: str) -> Response:
    page = PAGE if came_from == "suggestions" else f"/workbench/tickets/{ticket_no}"
    return visit.redirect(f"{page}?done={done}&ticket={ticket_no}")


# Two segments after the number: one would be taken for a unit's action on its ticket page.
@router.post("/workbench/tickets/{ticket_no}/merge/into")
def merge(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    master_no: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = SAME_MATTER,
    came_from: Annotated[str, Form()] = "",
) -> Response:
    """并单: into the master named in the form."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    body = visit.form_body(
        lambda: MergeIn(master_no=master_no.strip()[:20], reason=reason[:2000]),
        title="请核对主工单号",
        message="请填写正确的主工单号和 2 到 500 字的理由。",
    )
    visit.attempt(
        lambda: merge_views.merge(ticket_no[:20], body, visit.desk, principal), failed="无法并单"
    )
    return _back(visit, ticket_number(ticket_no), "merged", came_from)


@router.post("/workbench/tickets/{ticket_no}/split/parts")
async def split(ticket_no: str, request: Request, visit: VisitDep) -> Response:
    """拆分: the parts are the form's non-empty `part` fields."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    form = await request.form()
    visit.check_csrf(str(form.get("csrf", "")))
    texts = [str(v).strip()[:4000] for v in form.getlist("part")[:10] if str(v).strip()]
    body = visit.form_body(
        lambda: SplitIn(
            parts=[PartIn(text=text) for text in texts],
            reason=str(form.get("reason", ""))[:2000],
        ),
        title="请核对拆分内容",
        message="请填写 2 到 5 项诉求（每项 5 到 2000 字）和 2 到 500 字的拆分理由。",
    )
    visit.attempt(
        lambda: merge_views.split(ticket_no[:20], body, visit.desk, principal), failed="无法拆分"
    )
    return _back(visit, ticket_number(ticket_no), "split", "")


@router.post("/workbench/tickets/{ticket_no}/split/undo")
def unsplit(
    ticket_no: str,
    visit: VisitDep,
    csrf: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Undo a split while no child is resolved."""
    principal = visit.require(Role.OPERATOR, Role.SUPERVISOR)
    visit.check_csrf(csrf)
    body = visit.form_body(
        lambda: ReasonIn(reason=reason[:2000]),
        title="请填写理由",
        message="请填写 2 到 500 字的撤销理由后重试。",
    )
    visit.attempt(
        lambda: merge_views.unsplit(ticket_no[:20], body, visit.desk, principal),
        failed="无法撤销拆分",
    )
    return _back(visit, ticket_number(ticket_no), "unsplit", "")
