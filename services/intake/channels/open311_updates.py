"""The `servicerequestupdates` extension (mySociety's, which FixMyStreet polls), GET in JSON.

`GET /open311/v2/servicerequestupdates.json?start_date=&end_date=` answers
`{"service_request_updates": [...]}`: one entry per change of a listed request (see
`open311_requests`) in the window, oldest first so that a poller can move its start_date to
the last `updated_datetime` it saw, at most 1,000. Each entry has `update_id` (the ticket
event's id, stable across polls), `service_request_id`, `status`, `updated_datetime`,
`description` and `media_url`.

`status` uses the extension's words: `open` (received, being assigned), `in_progress` (a unit
signed for it, or it was reopened), `closed` (answered, 办结) and `duplicate` (merged).
`description` is the unit's masked reply on the update that published the ticket while it is
published, and otherwise a fixed Chinese phrase for the state: nothing a citizen wrote.

POST (comments from the app's users) is not taken: what citizens add goes through their own
channel and its consent, not into a public feed.
"""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.intake import open311_records
from services.intake.channels.open311 import PREFIX, Refused, errors
from services.intake.channels.open311_requests import (
    MAX_RESULTS,
    WINDOW_PARAMETERS,
    now,
    public_url,
    query_of,
    too_many,
    w3c,
)
from services.intake.channels.open311_requests import window as search_window
from services.intake.deps import IntakeDep
from services.intake.limits import RateLimited
from services.intake.models import Open311Request, Open311Update
from services.intake.ticket_progress import STATE_LABELS

router = APIRouter(prefix=PREFIX, tags=["open311"])

EXTENSION_STATUS = {
    "accepted": "in_progress",
    "reopened": "in_progress",
    "resolved": "closed",
    "surveyed": "closed",
    "closed": "closed",
    "merged": "duplicate",
}


@router.get(
    "/servicerequestupdates.json",
    summary="Open311 update extension: changes of requests in a time window",
    openapi_extra={"parameters": WINDOW_PARAMETERS},
    responses={400: {"description": "GeoReport errors"}, 429: {"description": "Too many"}},
)
def get_updates(request: Request, intake: IntakeDep) -> JSONResponse:
    """Updates of listed requests between start_date and end_date (the last 90 days)."""
    try:
        params = query_of(request, intake)
        start, end = search_window(params, now=now())
    except Refused as exc:
        return errors(exc.status, *exc.descriptions)
    except RateLimited as exc:
        return too_many(exc)
    with intake.sessions() as session:
        rows = open311_records.list_updates(session, start=start, end=end, limit=MAX_RESULTS)
    return JSONResponse({"service_request_updates": [entry(u, r) for u, r in rows]})


@router.post("/servicerequestupdates.json", include_in_schema=False)
def post_update() -> JSONResponse:
    """Updates are the units' to make; apps only read them."""
    return errors(
        405,
        "Updates are read-only here / 此处只能查询办理进展，不能提交",
        headers={"Allow": "GET"},
    )


def entry(update: Open311Update, record: Open311Request) -> dict[str, Any]:
    """One update in the extension's form."""
    publication = open311_records.publication_of(record)
    public = publication is not None and update.kind == "published"
    return {
        "update_id": update.update_id,
        "service_request_id": update.ticket_no,
        "status": EXTENSION_STATUS.get(update.state, "open"),
        "updated_datetime": w3c(update.occurred_at),
        "description": publication.reply if public and publication else status_phrase(update),
        "media_url": public_url(publication.media_url) if public and publication else None,
    }


def status_phrase(update: Open311Update) -> str:
    """The fixed words for a state, as WeChat's progress answer says them."""
    label = next((text for state, text in STATE_LABELS.items() if state == update.state), None)
    return label or "办理中"
