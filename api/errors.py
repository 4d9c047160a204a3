"""Turn domain errors and request-validation errors into JSON a person understands (Chinese)."""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cases.errors import ActionNotAllowed, DomainError, Forbidden, NotFound, StaleVersion, ValidationFailed

STATUS = {NotFound: 404, Forbidden: 403, ActionNotAllowed: 409, StaleVersion: 409, ValidationFailed: 422}

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


def _status_for(exc: DomainError) -> int:
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def domain_error_body(exc: DomainError) -> dict:
    body = {"error": exc.code, "message": exc.message}
    body.update({k: v for k, v in exc.info.items() if v is not None or k == "current_version"})
    return body


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError):
        return JSONResponse(domain_error_body(exc), status_code=_status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        errors = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
            field = ".".join(loc) or "body"
            message = _PYDANTIC_MESSAGES.get(err.get("type", ""), None)
            if err.get("type") == "value_error" and err.get("ctx", {}).get("error"):
                message = str(err["ctx"]["error"])
            errors.append({"field": field, "message": message or "取值无效"})
        text = "；".join(f"{e['field']}：{e['message']}" for e in errors)
        return JSONResponse({"error": "validation_failed", "message": text, "errors": errors}, status_code=422)

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def _out_of_range(_: Request, exc: Exception):
        # Last line of defence (the fields are checked before): a value the database cannot hold —
        # an id beyond 64 bits, NUL in text — is the request's fault, not a server error.
        return JSONResponse({"error": "validation_failed", "message": "提交的数值超出范围或文本含有不允许的字符（如空字符）",
                             "errors": []}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        messages = {401: "未登录或登录已过期，请重新登录", 403: "无权访问", 404: "资源不存在", 405: "不支持的请求方法"}
        message = exc.detail if isinstance(exc.detail, str) and not exc.detail.isascii() else messages.get(exc.status_code, str(exc.detail))
        return JSONResponse({"error": f"http_{exc.status_code}", "message": message}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))
