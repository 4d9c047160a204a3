"""The error answers every route can give, declared in the OpenAPI schema — in one place.

The routes declare their success answer; the errors come from the shared handlers in
``api/errors.py`` (domain errors, validation, the database away) and from the middleware (size
limits, login throttling), and all share one JSON shape. ``install_error_responses`` adds them to
every operation of the generated schema, from what the operation itself declares:

- 400 where a request body is read and cannot be decoded (not UTF-8 JSON or a form);
- 401 where the operation needs a bearer token, and on the login form (wrong name or password);
- 403 where it needs a token (role, jurisdiction);
- 404 where the path names a resource, or the body may name one (POST/PUT/DELETE);
- 409 on POST/PUT/DELETE (the action is not allowed in the case's state, a stale version, a
  conflicting Idempotency-Key);
- 413 where a request body is read (the size limit, enforced while reading);
- 422 wherever the request carries parameters or a body — replacing FastAPI's default
  ``HTTPValidationError`` (``{"detail": [...]}``), which is not what ``api/errors.py`` answers;
- 429 on the login form (throttled per account and per client address);
- 503 everywhere but the static machine definitions (the database is unreachable or does not answer;
  with ``Retry-After``).

So the schema documents what a client must handle, and tests/test_schema_fuzz.py (schemathesis)
checks every answer against it: an undeclared status code or a body of another shape fails.
"""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "description": "出错时的统一应答：error 为机器可读代码，message 为中文说明；校验失败时 errors 逐字段说明。",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "错误代码，如 validation_failed、not_found、http_401"},
        "message": {"type": "string", "description": "中文说明（校验失败时以字段的中文名称指明字段）"},
        "errors": {
            "type": "array",
            "description": "逐字段的校验错误",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {
                    "field": {"type": "string", "description": "字段名（API 字段名，嵌套用点号连接）"},
                    "label": {"type": ["string", "null"], "description": "字段的中文名称"},
                    "message": {"type": "string", "description": "中文说明"},
                },
            },
        },
    },
    # Domain errors add context: current_version, state, allowed_actions, …
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "请求体无法解析（不是UTF-8编码的JSON或表单）",
    401: "未登录、登录已过期或令牌无效（登录时：用户名或密码错误）",
    403: "无权进行此操作（角色或辖区不符）",
    404: "资源不存在，或不在本人可见范围内",
    409: "与案件当前状态或版本冲突（含幂等键冲突）；应答中给出当前版本与可执行的操作",
    413: "请求体过大",
    422: "请求数据不合法：逐字段以中文名称说明原因",
    429: "请求过于频繁（登录尝试过多），请稍后再试；见 Retry-After",
    503: "数据库暂时不可用，请稍后重试；见 Retry-After",
}

_REF = {"$ref": "#/components/schemas/ErrorBody"}
_WRITES = {"post", "put", "patch", "delete"}
_NO_DATABASE = {"/api/state-machines", "/api/state-machines/{kind}"}  # definitions held in memory
_LOGIN = "/api/auth/token"


def error_codes(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error status codes this operation can answer (see the module docstring)."""
    codes: set[int] = set()
    authenticated = bool(operation.get("security"))
    params = operation.get("parameters") or []
    has_body = "requestBody" in operation
    if authenticated:
        codes |= {401, 403}
    if path == _LOGIN:  # names no resource, changes none
        return [400, 401, 413, 422, 429, 503]
    if any(p.get("in") == "path" for p in params) or method in _WRITES:
        codes.add(404)
    if method in _WRITES:
        codes.add(409)
    if has_body or method in _WRITES:
        codes |= {400, 413}
    if params or has_body:
        codes.add(422)
    if path not in _NO_DATABASE:
        codes.add(503)
    return sorted(codes)


def add_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Declare the error answers on every operation of a generated OpenAPI document (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for code in error_codes(path, method, operation):
                entry: dict[str, Any] = {"description": DESCRIPTIONS[code],
                                         "content": {"application/json": {"schema": dict(_REF)}}}
                if code in (429, 503):
                    entry["headers"] = {"Retry-After": {"description": "建议多少秒后重试",
                                                        "schema": {"type": "string"}}}
                responses[str(code)] = entry
    # FastAPI's default validation error shapes, once nothing refers to them any more.
    for name in ("HTTPValidationError", "ValidationError"):
        rest = {k: v for k, v in schema["components"]["schemas"].items() if k != name}
        if f'"#/components/schemas/{name}"' not in json.dumps([schema["paths"], rest]):
            schema["components"]["schemas"].pop(name, None)
    return schema


def install_error_responses(app: FastAPI) -> None:
    """Wrap ``app.openapi`` so the generated document declares every route's error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
