"""Open311 GeoReport v2: querying requests, one by id, several by id, or listed by date.

What a request shows:
- Listed are the requests posted through Open311 and the requests the centre published (公开,
  with the citizen's consent) from any channel; other channels' tickets are not Open311's.
- An unpublished request shows its number, GeoReport status, service, responsible unit, times
  and a fixed status phrase; `description`, `address`, `lat`, `long` and `media_url` are null,
  since the citizen's words and place are personal until masked and consented.
- A published request adds the masked words (`description`), the district (`address`), the
  location rounded to about 100 m (`lat`, `long`), the public photo (`media_url`) and the
  unit's masked reply (`status_notes`); `unpublished` takes them away again.
- `status` is `closed` once the unit has answered (办结) or the ticket was merged, as GeoReport
  means it ("it has been resolved"); a reopened ticket is `open` again.

Without `service_request_id` the list is searched by `start_date`/`end_date` (W3C datetimes
on requested_datetime; the last 90 days by default, a span over 90 days refused), `status`
and `service_code` (comma-separated), newest first, at most 1,000.
"""

import re
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams

from feedbackloop.events import Channel
from services.intake import open311_records, service
from services.intake.channels.open311 import PREFIX, Refused, errors, is_web_url, taxonomy_of
from services.intake.deps import Intake, IntakeDep
from services.intake.limits import RateLimited
from services.intake.models import Open311Request, Submission, TicketStatus
from services.intake.open311_records import Listing, georeport_status
from services.intake.taxonomy import Taxonomy
from services.intake.ticket_numbers import BEIJING, is_valid_ticket_no

router = APIRouter(prefix=PREFIX, tags=["open311"])

MAX_IDS = 50
MAX_CODES = 50
MAX_RESULTS = 1000
MAX_SPAN = timedelta(days=90)
#: The longest value each parameter may have; the query as a whole is bounded too.
PARAMETER_LENGTHS = {
    "service_request_id": 1100,
    "service_code": 850,
    "status": 40,
    "start_date": 40,
    "end_date": 40,
    "jurisdiction_id": 100,
    "api_key": 200,
}
MAX_QUERY_BYTES = 4096
MAX_PARAMETERS = 32
STATUS_NOTES = {
    "received": "Received, waiting to be assigned / 已受理，等待派单",
    "triage": "Being assigned by an operator / 正在人工分派",
    "routed": "Assigned to the responsible department / 已派单至承办单位",
    "accepted": "The department is working on it / 承办单位已签收，正在办理",
    "returned": "Being reassigned / 正在重新派单",
    "resolved": "Answered by the department / 承办单位已办结答复",
    "surveyed": "Callback done / 已回访",
    "reopened": "Reopened for further work / 已重新办理",
    "merged": "Merged with a request about the same problem / 已与相同问题的诉求合并办理",
    "closed": "Closed / 已办结",
}
# What stays null unless the request is published (see the module docstring).
PRIVATE_FIELD_NAMES = "description service_notice address address_id zipcode lat long media_url"
PRIVATE_FIELDS = dict.fromkeys(PRIVATE_FIELD_NAMES.split())
_W3C = re.compile(
    r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?", re.ASCII
)
_CODE = re.compile(r"[A-Za-z0-9_-]{1,16}", re.ASCII)


def query_parameter(name: str, description: str) -> dict[str, Any]:
    """An optional string query parameter, documented for clients and the fuzzer."""
    schema = {"type": "string", "maxLength": PARAMETER_LENGTHS[name]}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


WINDOW_PARAMETERS = [
    query_parameter("start_date", "W3C datetime; a bare date is midnight in Beijing"),
    query_parameter("end_date", "W3C datetime; at most 90 days after start_date"),
    query_parameter("jurisdiction_id", "accepted and ignored"),
]
LIST_PARAMETERS = [
    query_parameter("service_request_id", "ticket numbers, comma-separated (at most 50)"),
    query_parameter("service_code", "service codes, comma-separated (at most 50)"),
    query_parameter("status", "open, closed, or both comma-separated"),
    *WINDOW_PARAMETERS,
]


def query_of(request: Request, intake: Intake) -> QueryParams:
    """The query, bounded, or Refused(400); RateLimited past a client address's queries."""
    # Listing is the costly read: a client address gets a budget a minute, as a key does
    # for posting.
    if intake.open311_reads is not None:
        client = request.client.host if request.client else "unknown"
        intake.open311_reads.check(f"open311-read:{client}")
    params = request.query_params
    if len(request.url.query.encode()) > MAX_QUERY_BYTES or len(params) > MAX_PARAMETERS:
        raise Refused(400, "The query is too long / 查询参数过长")
    for name, limit in PARAMETER_LENGTHS.items():
        if len(",".join(params.getlist(name))) > limit:
            raise Refused(400, f"{name}: at most {limit} characters / 参数 {name} 过长")
    return params


def too_many(exc: RateLimited) -> JSONResponse:
    """429 in GeoReport form, with Retry-After."""
    return errors(
        429,
        f"Too many queries, retry in {exc.retry_after} s / "
        f"查询太频繁，请 {exc.retry_after} 秒后再试",
        headers={"Retry-After": str(exc.retry_after)},
    )


def listed(params: QueryParams, name: str) -> list[str]:
    """A parameter's comma-separated values; a repeated parameter counts as more of them."""
    return [part.strip() for value in params.getlist(name) for part in value.split(",") if part]


def parse_moment(name: str, value: str) -> datetime:
    """A W3C datetime with its offset (a bare date is midnight in Beijing), or Refused(400)."""
    if not _W3C.fullmatch(value):
        example = "2026-12-01T00:00:00Z"
        raise Refused(400, f"{name}: a W3C datetime, e.g. {example} / 时间格式不正确")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Refused(400, f"{name}: not a real date or time / 日期或时间不存在") from exc
    if moment.tzinfo is None:
        moment = datetime.combine(moment.date(), time(), tzinfo=BEIJING)
    if not 2000 <= moment.year <= 2999:
        raise Refused(400, f"{name}: a year from 2000 to 2999 / 年份应在 2000 至 2999 之间")
    return moment


def window(params: QueryParams, *, now: datetime) -> tuple[datetime, datetime]:
    """start_date and end_date with the spec's defaults, at most 90 days apart."""
    start_text, end_text = params.get("start_date", ""), params.get("end_date", "")
    start = parse_moment("start_date", start_text) if start_text else None
    end = parse_moment("end_date", end_text) if end_text else None
    if start is None:
        end = end or now
        start = end - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    if start > end:
        raise Refused(400, "start_date is after end_date / 开始时间晚于结束时间")
    if end - start > MAX_SPAN:
        raise Refused(400, "start_date and end_date may span at most 90 days / 查询跨度最多 90 天")
    return start, end


def listing_of(params: QueryParams, *, now: datetime) -> Listing:
    """The search GeoReport's list parameters ask for, or Refused(400)."""
    problems = []
    statuses = [s.lower() for s in listed(params, "status")]
    if any(s not in ("open", "closed") for s in statuses):
        problems.append("status: open or closed, comma-separated / 状态只能是 open 或 closed")
    codes = listed(params, "service_code")
    if len(codes) > MAX_CODES:
        problems.append(f"At most {MAX_CODES} service_code / 最多查询 {MAX_CODES} 个服务类别")
    elif any(not _CODE.fullmatch(c) for c in codes):
        problems.append("service_code: a code from services.json / 服务类别代码不正确")
    try:
        start, end = window(params, now=now)
    except Refused as exc:
        problems.extend(exc.descriptions)
        start = end = now
    if problems:
        raise Refused(400, *problems)
    return Listing(
        start=start,
        end=end,
        statuses=frozenset(statuses),
        codes=frozenset(codes),
        limit=MAX_RESULTS,
    )


@router.get("/requests/{service_request_id}.json", summary="GeoReport v2: one request")
def get_request(service_request_id: str, intake: IntakeDep) -> JSONResponse:
    """A request by its ticket number, as a list of one."""
    found = find_requests(intake, [service_request_id[:32]])
    if not found:
        return errors(404, f"No request {service_request_id[:32]!r} / 没有这个诉求")
    return JSONResponse(found)


@router.get(
    "/requests.json",
    summary="GeoReport v2: requests by id, or listed by date, status and service",
    openapi_extra={"parameters": LIST_PARAMETERS},
    responses={400: {"description": "GeoReport errors"}, 429: {"description": "Too many"}},
)
def get_requests(request: Request, intake: IntakeDep) -> JSONResponse:
    """Requests named by `service_request_id`, or the list searched by the other parameters."""
    try:
        params = query_of(request, intake)
        ids = listed(params, "service_request_id")
        if len(ids) > MAX_IDS:
            raise Refused(400, f"At most {MAX_IDS} service_request_id / 最多查询 {MAX_IDS} 个")
        if not ids:
            return JSONResponse(list_requests(intake, listing_of(params, now=now())))
    except Refused as exc:
        return errors(exc.status, *exc.descriptions)
    except RateLimited as exc:
        return too_many(exc)
    found = find_requests(intake, ids)
    wanted_codes = set(listed(params, "service_code"))
    wanted_status = {s.lower() for s in listed(params, "status")}
    return JSONResponse(
        [
            entry
            for entry in found
            if (not wanted_codes or entry["service_code"] in wanted_codes)
            and (not wanted_status or entry["status"] in wanted_status)
        ]
    )


def now() -> datetime:
    """The present moment in the city's time: the end of a search that names none."""
    return datetime.now(BEIJING)


def list_requests(intake: Intake, listing: Listing) -> list[dict[str, Any]]:
    """The list: recorded requests and this intake's not yet recorded Open311 posts."""
    taxonomy = known_taxonomy(intake)
    with intake.sessions() as session:
        entries = [
            (row.requested_at, record_entry(row, taxonomy))
            for row in open311_records.list_records(session, listing)
        ]
        entries += [
            (submission.received_at, submission_entry(submission, status, taxonomy))
            for submission, status in open311_records.list_unrecorded(session, listing)
        ]
    entries.sort(key=lambda pair: (pair[0], pair[1]["service_request_id"]), reverse=True)
    return [entry for _, entry in entries[: listing.limit]]


def find_requests(intake: Intake, ids: list[str]) -> list[dict[str, Any]]:
    """The requests Open311 may show among these ticket numbers, in GeoReport form."""
    taxonomy = known_taxonomy(intake)
    wanted = [t for t in dict.fromkeys(ids) if is_valid_ticket_no(t)]
    found = []
    with intake.sessions() as session:
        records = open311_records.find_records(session, wanted)
        for ticket_no in wanted:
            if ticket_no in records:
                found.append(record_entry(records[ticket_no], taxonomy))
                continue
            submission = service.get_submission_by_ticket_no(session=session, ticket_no=ticket_no)
            if submission is None or submission.channel != Channel.OPEN311.value:
                continue
            status = service.get_ticket_status(session=session, ticket_no=ticket_no)
            found.append(submission_entry(submission, status, taxonomy))
    return found


def known_taxonomy(intake: Intake) -> Taxonomy | None:
    """The taxonomy for service names; queries still answer (without names) when it is gone."""
    try:
        return taxonomy_of(intake)
    except Refused:
        return None


def service_name(taxonomy: Taxonomy | None, code: str | None) -> str | None:
    """The level-2 category a service code stands for, if the taxonomy knows it."""
    category = taxonomy.get(code) if taxonomy and code else None
    return category.level2 if category else None


def record_entry(row: Open311Request, taxonomy: Taxonomy | None) -> dict[str, Any]:
    """A recorded request in GeoReport form; the public record only if it is published."""
    publication = open311_records.publication_of(row)
    entry = {
        "service_request_id": row.ticket_no,
        "status": georeport_status(row.state),
        "status_notes": STATUS_NOTES.get(row.state, row.state),
        # Other channels' tickets have no service code: their first-level category names them.
        "service_name": service_name(taxonomy, row.service_code) or row.category,
        "service_code": row.service_code,
        "agency_responsible": row.agency,
        "requested_datetime": w3c(row.requested_at),
        "updated_datetime": w3c(row.updated_at),
        "expected_datetime": w3c(row.due_at) if row.due_at else None,
        **PRIVATE_FIELDS,
    }
    if publication is not None:
        entry |= {
            "description": publication.text,
            "status_notes": publication.reply,
            "address": publication.district,
            "lat": publication.lat,
            "long": publication.lng,
            "media_url": public_url(publication.media_url),
        }
    return entry


def public_url(url: str | None) -> str | None:
    """A published photo's address, only if it is a web address an app may open."""
    return url if url and is_web_url(url) else None


def submission_entry(
    submission: Submission, status: TicketStatus | None, taxonomy: Taxonomy | None
) -> dict[str, Any]:
    """An Open311 post without a record yet, from the submission and the status read model."""
    state = status.state if status else "received"
    code = (submission.channel_ref or "").split("/")[0] or None
    return {
        "service_request_id": submission.ticket_no,
        "status": georeport_status(state),
        "status_notes": STATUS_NOTES.get(state, state),
        "service_name": service_name(taxonomy, code),
        "service_code": code,
        "agency_responsible": status.department_name if status else None,
        "requested_datetime": w3c(submission.received_at),
        "updated_datetime": w3c(status.updated_at if status else submission.received_at),
        "expected_datetime": w3c(status.due_at) if status and status.due_at else None,
        **PRIVATE_FIELDS,
    }


def w3c(moment: datetime) -> str:
    """A time as the spec writes it: ISO 8601 to the second, with its UTC offset."""
    return moment.replace(microsecond=0).isoformat()
