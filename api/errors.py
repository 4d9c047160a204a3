"""Turn domain errors and request-validation errors into JSON a person understands (Chinese)."""
from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.audit import record_denial
from cases.ledger.labels import describe_options, field_label, options_of
from cases.platform.errors import (ActionNotAllowed, DomainError, Forbidden, NotFound, PayloadTooLarge, StaleVersion,
                                   ValidationFailed)

log = logging.getLogger("anjian.api")

STATUS = {NotFound: 404, Forbidden: 403, ActionNotAllowed: 409, StaleVersion: 409, ValidationFailed: 422, PayloadTooLarge: 413}

_PYDANTIC_MESSAGES = {
    "missing": "必填",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为是或否（true/false）",
    "bool_type": "应为是或否（true/false）",
    "string_type": "应为文本",
    "string_too_long": "过长",
    "string_too_short": "过短",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "json_invalid": "不是合法的 JSON",
    "model_attributes_type": "应为对象",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "greater_than": "数值过小",
    "less_than": "数值过大",
    "literal_error": "取值无效",
    "enum": "取值无效",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "datetime_parsing": "应为时间（ISO 8601）",
    "datetime_from_date_parsing": "应为时间（ISO 8601）",
    "value_error": "取值无效",
}


_TYPE_NAMES = {"int": "整数", "float": "数字", "bool": "是或否（true/false）", "string": "文本"}


def _param_bounds(request: Request, where: str, name: str) -> dict[str, Any]:
    """The declared limits (ge/le/gt/lt/max_length) of a path or query parameter of this route."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or where not in ("query", "path", "body"):
        return {}
    infos = []
    if where == "body":  # a field of the body model
        for p in dependant.body_params:
            fields = getattr(p.field_info.annotation, "model_fields", None) or {}
            if name in fields:
                infos.append(fields[name])
    else:
        infos = [p.field_info for p in (dependant.query_params if where == "query" else dependant.path_params)
                 if name in (p.alias, p.name)]
    out: dict[str, Any] = {}
    for info in infos[:1]:
        for m in getattr(info, "metadata", ()):
            for key in ("ge", "le", "gt", "lt", "max_length", "min_length"):
                if getattr(m, key, None) is not None:
                    out[key] = getattr(m, key)
    return out


def _range_text(bounds: dict[str, Any]) -> str | None:
    low = bounds.get("ge", None if bounds.get("gt") is None else bounds["gt"] + 1)
    high = bounds.get("le", None if bounds.get("lt") is None else bounds["lt"] - 1)
    if low is not None and high is not None:
        return f"应为{low}至{high}之间的整数"
    if low is not None:
        return f"应为不小于{low}的整数"
    if high is not None:
        return f"应为不大于{high}的整数"
    return None


def _json_position(body: Any, pos: Any) -> str:
    if not isinstance(pos, int):
        return ""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        line = body.count("\n", 0, pos) + 1
        column = pos - (body.rfind("\n", 0, pos) + 1) + 1
        return f"（第{line}行第{column}列）"
    return f"（第{pos + 1}个字符处）"


def request_error(request: Request, exc: RequestValidationError, err: dict[str, Any]) -> dict[str, Any]:
    """One pydantic/FastAPI error as {field, label, message}: the field by its Chinese label and
    what is allowed (options with their labels, the bounds of a number, the position in bad JSON)."""
    raw_loc = list(err.get("loc", ()))
    where = raw_loc[0] if raw_loc and raw_loc[0] in ("body", "query", "path", "header") else None
    loc = raw_loc[1:] if where else raw_loc
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "json_invalid":
        text = "请求体不是合法的JSON" + _json_position(getattr(exc, "body", None), loc[0] if loc else None)
        if ctx.get("error"):
            text += f"：{_JSON_REASONS.get(ctx['error'], '格式错误')}"
        return {"field": "body", "label": "请求体", "message": text, "text": text}
    # a typed dict (extra fields of an action) adds the key; a tagged union adds the model name
    loc = [x for x in loc if not (isinstance(x, str) and x[:1].isupper())]
    field = ".".join(str(x) for x in loc) or "body"
    label = field_label(loc or ["body"]) or f"字段“{field}”"
    options = options_of(loc) if loc else None
    bounds = _param_bounds(request, where or "", str(loc[-1])) if len(loc) == 1 else {}
    message = _PYDANTIC_MESSAGES.get(kind)
    if kind == "missing":
        message = "必填" if loc else "必填（应为JSON对象）"
    elif kind in ("literal_error", "enum") or (options and kind in ("string_type",)):
        if options is None:
            expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
            options = {v: v for v in expected}
        message = f"取值“{err.get('input')}”无效，{describe_options(options)}" if options else "取值无效"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = _range_text(bounds) or {
            "greater_than_equal": f"不能小于{ctx.get('ge')}", "less_than_equal": f"不能大于{ctx.get('le')}",
            "greater_than": f"应大于{ctx.get('gt')}", "less_than": f"应小于{ctx.get('lt')}"}[kind]
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message = _range_text(bounds) or "应为整数"
    elif kind == "string_too_long":
        message = f"长度不能超过{ctx.get('max_length')}个字符"
    elif kind == "string_too_short":
        message = "不能为空" if ctx.get("min_length") == 1 else f"长度不能少于{ctx.get('min_length')}个字符"
    elif kind == "string_pattern_mismatch" and loc and loc[-1] == "username":
        message = "只能包含英文字母、数字、下划线、点和连字符"
    elif kind == "value_error" and ctx.get("error"):
        message = str(ctx["error"])
    elif kind in ("dict_type", "model_attributes_type") and not loc:
        message = "应为JSON对象"
    return {"field": field, "label": label, "message": message or "取值无效"}


_JSON_REASONS = {
    "Expecting property name enclosed in double quotes": "字段名应使用双引号",
    "Expecting value": "此处缺少取值",
    "Expecting ',' delimiter": "此处缺少逗号",
    "Expecting ':' delimiter": "此处缺少冒号",
    "Unterminated string starting at": "字符串没有结束引号",
    "Extra data": "JSON之后还有多余内容",
    "Invalid control character at": "含有不允许的控制字符",
}


def _status_for(exc: DomainError) -> int:
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def domain_error_body(exc: DomainError) -> dict:
    body = {"error": exc.code, "message": exc.message}
    body.update({k: v for k, v in exc.info.items() if v is not None or k == "current_version"})
    return body


# While the database is away (unreachable, not answering within the connect or statement timeout,
# pool exhausted): 503 with a message a person understands, and when to try again. The pool pings
# a connection before use (pool_pre_ping), so the service recovers by itself when it returns.
DATABASE_UNAVAILABLE = "数据库暂时不可用，请稍后重试"
RETRY_AFTER_SECONDS = 5


def database_unavailable_response() -> JSONResponse:
    return JSONResponse({"error": "database_unavailable", "message": DATABASE_UNAVAILABLE},
                        status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _page_request(request: Request) -> bool:
    """A page for a person (api/pages/), not the API: its errors are pages too."""
    from api.pages.common import is_page

    return is_page(request)


def _page_error(request: Request, status: int, message: str):
    from api.pages.common import error_page

    return error_page(request, status, message)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(PoolTimeout)
    async def _database_unavailable(request: Request, exc: Exception):
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.warning("database unavailable (%s %s): %s: %s", request.method, request.url.path,
                    type(getattr(exc, "orig", None) or exc).__name__, reason[0] if reason else "")
        return database_unavailable_response()

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError):
        status = _status_for(exc)
        if status == 403:  # permission denials go to the security log (api/audit.py)
            await record_denial(request, exc.message)
        if _page_request(request):
            return _page_error(request, status, exc.message)
        return JSONResponse(domain_error_body(exc), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [request_error(request, exc, err) for err in exc.errors()]
        text = "；".join(e.pop("text", None) or f"{e['label']}：{e['message']}" for e in errors)
        if _page_request(request):
            return _page_error(request, 422, text)
        return JSONResponse({"error": "validation_failed", "message": text, "errors": errors}, status_code=422)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(_: Request, exc: Exception):
        # Last line of defence (the fields are checked before): a value the database cannot hold —
        # an id beyond 64 bits, NUL in text — is the request's fault, not a server error.
        return JSONResponse({"error": "validation_failed", "message": "提交的数值超出范围或文本含有不允许的字符（如空字符）",
                             "errors": []}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        messages = {400: "请求体无法解析：应为UTF-8编码的JSON或表单", 401: "未登录或登录已过期，请重新登录",
                    403: "无权访问", 404: "资源不存在", 405: "不支持的请求方法"}
        message = exc.detail if isinstance(exc.detail, str) and not exc.detail.isascii() else messages.get(exc.status_code, str(exc.detail))
        if exc.status_code == 403:
            await record_denial(request, message)
        if _page_request(request):
            return _page_error(request, exc.status_code, message)
        return JSONResponse({"error": f"http_{exc.status_code}", "message": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
