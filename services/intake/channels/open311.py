"""Open311 GeoReport v2 (JSON) for civic apps: services and posting requests.

Querying requests is `open311_requests`, the `servicerequestupdates` extension
`open311_updates`; this module's last route answers every other path under the prefix.

Where the spec leaves room, this server chooses:
- One service per level-2 category of the taxonomy under its level-1 category (`group`); the
  level-2 name goes downstream as the category hint.
- JSON only (`.json`); other formats and paths under `/open311/v2` get a 404 in GeoReport form.
- POST needs an `api_key` (a credential made by `feedbackloop intake add-credential --kind
  open311`, stored hashed and rate-limited per key; `dev-open311-key` only in development), a
  `description` and a location (`lat`+`long` or `address_string`). The phone is kept
  (encrypted) and may be used for the callback only when the optional, non-standard field
  `callback_consent=true` is sent; email, names and device ids are not stored, they only
  rate-limit. An optional `Idempotency-Key` header makes a retried POST (same api_key,
  Idempotency-Key and service) return the first ticket with status 200.
"""

import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from feedbackloop.events import Attachment, Channel
from feedbackloop.web.credentials import split_token
from services.intake import service
from services.intake.channels.web import accepted_message
from services.intake.config import DEV_OPEN311_KEY
from services.intake.credentials import Holder, Kind
from services.intake.deps import Intake, IntakeDep
from services.intake.flows import accept_item
from services.intake.limits import RateLimited
from services.intake.problems import field_message
from services.intake.schemas import FeedbackIn, LocationIn
from services.intake.taxonomy import Category, Taxonomy, TaxonomyError, load_taxonomy

log = logging.getLogger(__name__)

PREFIX = "/open311/v2"
#: Who posts with the development key (honoured only when FEEDBACKLOOP_ENV=development).
DEV_APP = Holder(credential_id="dev", kind=Kind.OPEN311, name="开发用 Open311 密钥")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_YES = {"true", "1", "yes", "on"}
# Our field names as Open311 clients know them, for error descriptions.
_OPEN311_NAMES = {"text": "description", "contact_phone": "phone", "address": "address_string"}
_OPEN311_NAMES |= {"lng": "long", "lat": "lat", "callback_consent": "callback_consent"}
# The spec's fields plus our optional callback_consent, documented for clients and the fuzzer.
POST_FIELD_NAMES = (
    "api_key jurisdiction_id service_code lat long address_string description email "
    "device_id account_id first_name last_name phone media_url callback_consent"
)
POST_FIELDS = {name: {"type": "string"} for name in POST_FIELD_NAMES.split()}
POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": {"type": "object", "properties": POST_FIELDS}} for media in FORM_TYPES
        },
    }
}


class Refused(Exception):
    """A request answered with GeoReport errors: one HTTP status, one or more descriptions."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions


@asynccontextmanager
async def _preload(app: FastAPI) -> AsyncIterator[None]:
    # Read the taxonomy at start so a missing file shows in the log at once, not at the first
    # Open311 call; intake's other channels keep running either way.
    intake: Intake = app.state.intake
    try:
        load_taxonomy(intake.settings.taxonomy_path)
    except (OSError, TaxonomyError) as exc:
        log.error("Open311 is unavailable until the taxonomy can be read: %s", exc)
    yield


router = APIRouter(prefix=PREFIX, tags=["open311"], lifespan=_preload)


def errors(
    status: int, *descriptions: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A GeoReport error answer: a list of {code, description}."""
    body = [{"code": status, "description": text} for text in descriptions]
    return JSONResponse(body, status_code=status, headers=headers)


def taxonomy_of(intake: Intake) -> Taxonomy:
    """The cached taxonomy, or Refused(503) when the file cannot be read."""
    try:
        return load_taxonomy(intake.settings.taxonomy_path)
    except (OSError, TaxonomyError) as exc:
        log.error("taxonomy %s unreadable: %s", intake.settings.taxonomy_path, exc)
        raise Refused(503, "The service list is unavailable / 服务列表暂时不可用") from exc


def service_entry(category: Category) -> dict[str, Any]:
    """One entry of the GeoReport service list."""
    examples = "、".join(category.level3[:6])
    description = f"{category.level1} › {category.level2}"
    if examples:
        description += f"：{examples}{'等' if len(category.level3) > 6 else ''}"
    return {
        "service_code": category.code,
        "service_name": category.level2,
        "description": description,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(category.level3),
        "group": category.level1,
    }


@router.get("/services.json", summary="GeoReport v2: the service list (from the taxonomy)")
def list_services(intake: IntakeDep) -> JSONResponse:
    """Every level-2 category as a service; `jurisdiction_id` is accepted and ignored."""
    try:
        taxonomy = taxonomy_of(intake)
    except Refused as exc:
        return errors(exc.status, *exc.descriptions)
    return JSONResponse([service_entry(c) for c in taxonomy.categories])


@router.get("/services/{service_code}.json", summary="GeoReport v2: a service definition")
def get_service_definition(service_code: str, intake: IntakeDep) -> JSONResponse:
    """Services have no extra attributes; known codes answer an empty definition."""
    try:
        category = taxonomy_of(intake).get(service_code)
    except Refused as exc:
        return errors(exc.status, *exc.descriptions)
    if category is None:
        return errors(404, f"service_code {service_code[:64]!r} was not found / 没有这个服务类别")
    return JSONResponse({"service_code": category.code, "attributes": []})


@router.post(
    "/requests.json",
    status_code=201,
    summary="GeoReport v2: post a service request (form-encoded, api_key required)",
    openapi_extra=POST_BODY,
    responses={
        200: {"description": "A repeat of a known Idempotency-Key: the first ticket"},
        400: {"description": "GeoReport errors: missing or invalid fields"},
        403: {"description": "Missing or invalid api_key"},
        429: {"description": "Too many requests from this citizen or api_key; see Retry-After"},
    },
)
async def post_request(request: Request, intake: IntakeDep) -> JSONResponse:
    """Accept a request and answer its ticket number as the service_request_id."""
    try:
        form = await read_form(request)
        # The spec posts api_key with the fields; some clients put it in the query string.
        given = form.get("api_key") or request.query_params.get("api_key", "")
        app = await run_in_threadpool(check_api_key, given, intake)  # scrypt, off the loop
        intake.systems.admit(app)
        category, item = build_item(form, taxonomy_of(intake), request.headers, app=app)
        accepted = await run_in_threadpool(
            accept_item, intake=intake, item=item, limit_keys=limit_keys(form, item)
        )
    except Refused as exc:
        return errors(exc.status, *exc.descriptions)
    except RateLimited as exc:
        return errors(
            429,
            f"Too many requests, retry in {exc.retry_after} s / "
            f"提交太频繁，请 {exc.retry_after} 秒后再试",
            headers={"Retry-After": str(exc.retry_after)},
        )
    ticket_no = accepted.ticket_no
    notice = f"Received as ticket {ticket_no} ({category.level2}). / {accepted_message(ticket_no)}"
    body = [{"service_request_id": ticket_no, "service_notice": notice, "account_id": None}]
    return JSONResponse(body, status_code=201 if accepted.created else 200)


async def read_form(request: Request) -> dict[str, str]:
    """The posted fields as text (first value of each), or Refused(400)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in FORM_TYPES:
        raise Refused(400, "Send the request form-encoded / 请以表单格式提交")
    # Clients percent-encode every byte above 127; raw ones would be misread as Latin-1.
    if media == FORM_TYPES[0] and not (await request.body()).isascii():
        raise Refused(400, "Percent-encode the form as UTF-8 / 请按 UTF-8 编码提交表单")
    try:
        form = await request.form(max_files=0, max_fields=100)
    except HTTPException as exc:  # Starlette's answer to a malformed or file-carrying form
        raise Refused(400, f"Malformed form: {exc.detail} / 表单格式不正确") from exc
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in fields:
            fields[name] = value.strip()
    if any("\ufffd" in value for value in fields.values()):
        raise Refused(400, "Text must be UTF-8 / 请使用 UTF-8 编码")
    return fields


def check_api_key(given: str, intake: Intake) -> Holder:
    """The civic app an api_key belongs to, or Refused(403)."""
    if intake.settings.environment == "development" and hmac.compare_digest(
        given.encode(), DEV_OPEN311_KEY.encode()
    ):
        return DEV_APP
    app = intake.systems.verify(split_token(given), kind=Kind.OPEN311)
    if app is None:
        raise Refused(403, "api_key was not provided or is invalid / api_key 缺失或无效")
    return app


def build_item(
    form: Mapping[str, str], taxonomy: Taxonomy, headers: Mapping[str, str], *, app: Holder
) -> tuple[Category, service.NewFeedback]:
    """Validate the fields with the JSON API's rules; Refused(400) lists every problem."""
    problems: list[str] = []
    code = form.get("service_code", "")
    category = taxonomy.get(code) if code else None
    if not code:
        problems.append("service_code was not provided / 请选择服务类别 (service_code)")
    elif category is None:
        problems.append(f"service_code {code[:64]!r} was not found / 没有这个服务类别")
    lat, lng, address = form.get("lat", ""), form.get("long", ""), form.get("address_string", "")
    if bool(lat) != bool(lng):
        problems.append("lat and long must be given together / 经度和纬度需要同时提供")
    elif not (lat or address):
        problems.append(
            "A location is required: lat and long, or address_string / "
            "请提供位置：经纬度或地址 (address_id is not supported)"
        )
    location = None
    try:
        location = LocationIn.model_validate(
            {"address": address or None, "lat": lat or None, "lng": lng or None}
        )
    except ValidationError as exc:
        problems.extend(describe(exc))
    consent = form.get("callback_consent", "").lower() in _YES
    body = None
    fields: dict[str, Any] = {"callback_consent": consent, "location": location}
    # 公开: GeoReport v2 carries extra answers as attribute[code]; off unless sent.
    fields["publication_consent"] = form.get("attribute[publication_consent]", "").lower() in _YES
    if form.get("description"):
        fields["text"] = form["description"]
    if form.get("phone"):
        fields["contact_phone"] = form["phone"]
    try:
        body = FeedbackIn.model_validate(fields)
    except ValidationError as exc:
        problems.extend(describe(exc))
    media_url = form.get("media_url", "")
    if media_url and not is_web_url(media_url):
        problems.append("media_url must be an http(s) URL / 图片链接应当是 http(s) 网址")
    # The app's id is part of the reference, so no app can claim another's Idempotency-Key.
    channel_ref = f"{code}/{app.credential_id}/{request_key(headers)}"
    if problems or category is None or body is None:
        raise Refused(400, *problems)
    item = service.NewFeedback(
        channel=Channel.OPEN311,
        channel_ref=channel_ref,
        text=body.text,
        location=body.location_model(),
        attachments=[Attachment(kind="image", url=media_url)] if media_url else [],
        contact_phone=body.contact_phone,
        callback_consent=body.callback_consent,
        publication_consent=body.publication_consent,
        category_hint=category.level2,
    )
    return category, item


def describe(exc: ValidationError) -> list[str]:
    """GeoReport descriptions of pydantic errors, named by the Open311 field, in both languages."""
    described = []
    for error in exc.errors():
        path, chinese = field_message(dict(error))
        name = _OPEN311_NAMES.get(path.split(".")[-1], path)
        english = "invalid value" if error["type"] == "value_error" else error["msg"]
        described.append(f"{name}: {english} / {chinese}")
    return described


def request_key(headers: Mapping[str, str]) -> str:
    """The client's Idempotency-Key, or a fresh one so that every post is a new request."""
    key = headers.get("idempotency-key", "").strip()
    if not key:
        return uuid.uuid4().hex
    if len(key) > 100 or not key.isascii() or not key.isprintable():
        raise Refused(400, "Idempotency-Key: up to 100 printable ASCII characters / 格式不正确")
    return key


def is_web_url(value: str) -> bool:
    """True for an absolute http(s) URL that fits the event contract."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return len(value) <= 1000 and parts.scheme in ("http", "https") and bool(parts.netloc)


def limit_keys(form: Mapping[str, str], item: service.NewFeedback) -> tuple[str | None, ...]:
    """Rate-limit per citizen: one app server speaks for many, so its IP is not a key."""
    email = form.get("email", "").casefold()[:254]
    device = form.get("device_id", "")[:200]
    return (
        f"phone:{item.contact_phone}" if item.contact_phone else None,
        f"email:{email}" if email else None,
        f"open311-device:{device}" if device else None,
    )


@router.api_route("/{rest:path}", methods=["GET", "POST"], include_in_schema=False)
def not_found(rest: str) -> JSONResponse:
    """Anything else under /open311/v2, including other formats than JSON."""
    return errors(404, f"No such resource {rest[:64]!r}; only .json is served / 没有这个地址")
