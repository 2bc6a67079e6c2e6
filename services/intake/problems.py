"""Errors as RFC 7807 problem+json, worded for the citizen or clerk who reads them."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from services.intake.limits import RateLimited

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

FIELD_NAMES = {
    "text": "诉求内容",
    "title": "标题",
    "contact_phone": "联系电话",
    "callback_consent": "同意回访",
    "publication_consent": "同意公开",
    "location": "地点",
    "address": "地址",
    "district": "区县",
    "lat": "纬度",
    "lng": "经度",
    "call_id": "通话编号",
    "caller_number": "来电号码",
    "started_at": "通话开始时间",
    "ended_at": "通话结束时间",
    "agent_id": "话务员工号",
    "turns": "通话内容",
    "speaker": "说话人",
    "start_ms": "开始时间",
    "end_ms": "结束时间",
    "agent_summary": "话务员小结",
    "category_hint": "分类建议",
    "urgency_hint": "紧急程度",
}

STATUS_TITLES = {
    400: "请求有误",
    404: "找不到您要的内容",
    405: "不支持这种请求方式",
    413: "提交的内容太大",
    415: "请以 JSON 格式提交",
    422: "提交的内容有误",
    429: "提交太频繁，请稍后再试",
    500: "系统暂时出了问题，请稍后再试",
    503: "服务暂时不可用，请稍后再试",
}


def problem(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json response with a Chinese title for the status."""
    body = {"type": "about:blank", "title": STATUS_TITLES.get(status, "请求失败"), "status": status}
    body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def field_message(error: dict[str, Any]) -> tuple[str, str]:
    """The field path and a Chinese message for one pydantic validation error."""
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    # Unions report the branch they tried ("str", "LocationIn"); the citizen needs the field.
    loc = [part for part in loc if part not in ("str", "LocationIn", "function-after[]")]
    path = ".".join(loc)
    name = FIELD_NAMES.get(loc[-1], loc[-1]) if loc else "请求内容"
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    messages = {
        "missing": f"请填写{name}",
        "string_too_short": f"{name}太短，至少需要 {ctx.get('min_length')} 个字",
        "string_too_long": f"{name}太长，最多 {ctx.get('max_length')} 个字",
        "string_type": f"{name}应当是文字",
        "bool_type": f"{name}只能是 true 或 false",
        "bool_parsing": f"{name}只能是 true 或 false",
        "float_type": f"{name}应当是数字",
        "float_parsing": f"{name}应当是数字",
        "int_type": f"{name}应当是整数",
        "int_parsing": f"{name}应当是整数",
        "datetime_type": f"{name}应当是时间，例如 2026-11-22T09:30:00+08:00",
        "datetime_parsing": f"{name}应当是时间，例如 2026-11-22T09:30:00+08:00",
        "datetime_from_date_parsing": f"{name}应当是时间，例如 2026-11-22T09:30:00+08:00",
        "list_type": f"{name}应当是列表",
        "too_long": f"{name}条目太多",
        "literal_error": f"{name}只能是 {ctx.get('expected', '')}",
        "enum": f"{name}只能是 {ctx.get('expected', '')}",
        "string_pattern_mismatch": f"{name}只能包含英文字母、数字和符号，不能有空格",
        "greater_than_equal": f"{name}超出允许的范围",
        "less_than_equal": f"{name}超出允许的范围",
        "extra_forbidden": f"不支持的字段“{loc[-1] if loc else ''}”",
        "json_invalid": "请求内容不是有效的 JSON",
        "model_attributes_type": "请求内容应当是一个 JSON 对象",
        "dict_type": f"{name}格式不正确",
    }
    if kind == "value_error":
        message = str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
    else:
        message = messages.get(kind, f"{name}格式不正确")
    return path or "body", message


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, str]] = []
        seen: set[str] = set()
        for error in exc.errors():
            field, message = field_message(dict(error))
            if field not in seen:  # a union reports one error per branch
                seen.add(field)
                errors.append({"field": field, "message": message})
        detail = "；".join(e["message"] for e in errors) or "提交的内容有误"
        return problem(422, detail, errors=errors)

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else STATUS_TITLES.get(exc.status_code)
        if exc.status_code == 404 and detail == "Not Found":
            detail = "没有这个地址，请检查链接是否正确"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = "这个地址不支持这种请求方式"
        response = problem(exc.status_code, detail or "请求失败")
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RateLimited)
    async def _rate_limited(_request: Request, exc: RateLimited) -> JSONResponse:
        response = problem(429, f"您提交得太频繁了，请 {exc.retry_after} 秒后再试")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "系统暂时出了问题，您的内容没有提交成功，请稍后再试")
