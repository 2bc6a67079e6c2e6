"""The citizen web form (`/form`): a server-rendered page in Chinese, same rules as the JSON API.

Two choices worth knowing:
- A phone number without consent to a callback is refused next to the consent box, not stored:
  the number is asked for the callback (回访) only, so keeping it without consent would hold
  personal data for nothing. Consent without a phone number is accepted and has no effect.
- Each rendering of the form carries a random token; the item's channel reference is that token
  plus a digest of the validated content. A double click or a reloaded POST therefore gets the
  first ticket again, while a different item sent from a page restored with the back button
  gets a ticket of its own.
"""

import hashlib
import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from feedbackloop.events import Channel
from services.intake import service
from services.intake.channels.web import accepted_message
from services.intake.deps import IntakeDep
from services.intake.flows import accept_item
from services.intake.limits import RateLimited
from services.intake.problems import field_message
from services.intake.schemas import FeedbackIn, LocationIn

router = APIRouter(tags=["webform"])

FORM_URLENCODED = "application/x-www-form-urlencoded"
FIELDS = (
    "title",
    "text",
    "district",
    "address",
    "contact_phone",
    "callback_consent",
    "publication_consent",
    "token",
)
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
_YES = {"yes", "on", "true", "1"}
CONSENT_NEEDED = "回访需要您的同意：请勾选“同意回访”，或者不填联系电话"
UNREADABLE = "提交的内容无法识别，请重新填写后再提交"
# No script, nothing from elsewhere; only the inline style sheet and posting back here.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            FORM_URLENCODED: {
                "schema": {
                    "type": "object",
                    "properties": {name: {"type": "string"} for name in FIELDS},
                }
            }
        },
    }
}

templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    name: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """A page from the templates, with the page security headers."""
    html = templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={**HEADERS, **(headers or {})})


def new_token() -> str:
    """A fresh per-render token against double submission."""
    return secrets.token_urlsafe(16)


@router.get("/form", response_class=HTMLResponse, summary="诉求表单 — the citizen web form")
def get_form(intake: IntakeDep) -> HTMLResponse:
    """The empty form."""
    values = dict.fromkeys(FIELDS, "")
    values["token"] = new_token()
    return render("form.html", values=values, errors={}, districts=intake.settings.form_districts)


@router.post(
    "/form",
    response_class=HTMLResponse,
    summary="提交诉求表单 — submit the web form (application/x-www-form-urlencoded)",
    openapi_extra=FORM_BODY,
    responses={
        413: {"description": "Body too large"},
        422: {"description": "The form again, with a Chinese message next to each wrong field"},
        429: {"description": "The form again, asking to wait; see Retry-After"},
    },
)
async def post_form(request: Request, intake: IntakeDep) -> HTMLResponse:
    """Accept the form and show the ticket number, or show the form again with what to fix."""
    values, readable = await read_form(request)
    if not TOKEN.fullmatch(values["token"]):
        values["token"] = new_token()
    districts = intake.settings.form_districts
    body, errors = validate(values, districts)
    if not readable:  # what is left of bytes that were not UTF-8 says nothing; ask again
        body, errors = None, {"text": UNREADABLE}
        values.update(dict.fromkeys(FIELDS[:-1], ""))
    if body is None or errors:
        return render("form.html", status=422, values=values, errors=errors, districts=districts)
    item = service.NewFeedback(
        channel=Channel.WEB,
        channel_ref=channel_ref(values["token"], body),
        title=body.title,
        text=body.text,
        location=body.location_model(),
        contact_phone=body.contact_phone,
        callback_consent=body.callback_consent,
        publication_consent=body.publication_consent,
    )
    client_ip = request.client.host if request.client else None
    phone_key = f"phone:{body.contact_phone}" if body.contact_phone else None
    try:
        accepted = await run_in_threadpool(
            accept_item, intake=intake, item=item, limit_keys=(f"ip:{client_ip}", phone_key)
        )
    except RateLimited as exc:
        return render(
            "form.html",
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
            values=values,
            errors={},
            notice=f"您提交得太频繁了，请 {exc.retry_after} 秒后再试。您填写的内容还在。",
            districts=districts,
        )
    return render(
        "accepted.html",
        ticket_no=accepted.ticket_no,
        message=accepted_message(accepted.ticket_no),
        status_url=intake.settings.status_url(accepted.ticket_no),
    )


async def read_form(request: Request) -> tuple[dict[str, str], bool]:
    """Our fields as posted (first value of each, "" when missing), and whether it was readable.

    Other fields are ignored; a body that is not a form reads as a form with nothing filled in.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # A browser percent-encodes every byte above 127; raw ones would be misread as Latin-1.
    readable = media != FORM_URLENCODED or (await request.body()).isascii()
    try:
        form = await request.form(max_files=0, max_fields=50)
    except HTTPException:  # Starlette's answer to a malformed, oversized or file-carrying form
        form, readable = FormData(), False
    values = dict.fromkeys(FIELDS, "")
    for name in FIELDS:
        posted = [v for v in form.getlist(name) if isinstance(v, str)]
        if posted and readable:
            values[name] = posted[0]
    for box in ("callback_consent", "publication_consent"):
        values[box] = "yes" if values[box].strip().lower() in _YES else ""
    return values, readable and not any("\ufffd" in v for v in values.values())


def validate(
    values: dict[str, str], districts: list[str]
) -> tuple[FeedbackIn | None, dict[str, str]]:
    """The item in the JSON API's shape, and a Chinese message per field that is wrong."""
    errors: dict[str, str] = {}

    def collect(exc: ValidationError) -> None:
        for error in exc.errors():
            path, message = field_message(dict(error))
            name = path.split(".")[-1]
            errors.setdefault(name if name in FIELDS else "text", message)

    district = values["district"].strip()
    if district and district not in districts:
        errors.setdefault("district", "请从列表中选择所在区县")
    location = None
    address = values["address"].strip()
    if address or district:
        try:
            location = LocationIn.model_validate(
                {"address": address or None, "district": district or None}
            )
        except ValidationError as exc:
            collect(exc)
    consent = values["callback_consent"] == "yes"
    if values["contact_phone"].strip() and not consent:
        errors.setdefault("callback_consent", CONSENT_NEEDED)
    fields: dict[str, Any] = {"callback_consent": consent, "location": location}
    fields["publication_consent"] = values["publication_consent"] == "yes"
    for name in ("title", "text", "contact_phone"):
        if values[name].strip():
            fields[name] = values[name]
    body = None
    try:
        body = FeedbackIn.model_validate(fields)
    except ValidationError as exc:
        collect(exc)
    return body, {name: errors[name] for name in FIELDS if name in errors}


def channel_ref(token: str, body: FeedbackIn) -> str:
    """The token and a digest of the content: the same item sent twice maps to one ticket."""
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()[:16]
    return f"form:{token}:{digest}"
