"""``Idempotency-Key`` on every POST, PUT, PATCH and DELETE under /api (Stripe's semantics).

A client that may retry (a timeout, a dropped connection) sends a key of its choosing, 1–255
printable ASCII characters, unique per intended effect. For the same user:

* same key, same method, path and body (SHA-256 of the bytes) → the first response is replayed:
  status, body and headers, plus ``Idempotent-Replayed: true``; the request does not run again;
* same key, another path or body → 422 ``idempotency_key_reused`` (a new request needs a new key);
* same key while the first request is still running → this one waits for it (up to
  ``ANJIAN_IDEMPOTENCY_WAIT_SECONDS``, 10 s) and replays its response; if it is still running then,
  409 ``idempotency_in_progress`` with ``Retry-After`` (Stripe answers 409 at once; waiting first
  means parallel retries all get the one answer);
* a key is kept ``ANJIAN_IDEMPOTENCY_TTL_HOURS`` (24 h by the app clock), then it is new again.

What is stored: the response of a request that reached a decision — every 2xx and 4xx except 401,
408, 413 and 429 (not run, or not as this user). A 5xx (database away, a crash) releases the key
so a retry runs the request — unless the request's transaction had committed, then it is stored too.

Who: keys belong to the authenticated user. The middleware authenticates exactly as the routes do
(``api.deps.current_user``: signature, issuer, installation, expiry, an active user — and whatever
else that function checks), *before* looking a key up, so a token that no longer passes (expired,
revoked, user deactivated) never gets a stored response replayed; a request that does not
authenticate passes through untouched and the route answers 401. Login (/api/auth/token) is not
covered: it has no user yet and no effect worth replaying (a replayed token would be a copy of a
credential).

The rows and the transactional rule (the key's mark commits with the effect): ``cases/platform/idempotency.py``.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import timedelta

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import database_unavailable_response
from cases.platform import idempotency as store

log = logging.getLogger("anjian.api.idempotency")

METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_PATHS = frozenset({"/api/auth/token"})
NOT_STORED = frozenset({401, 408, 413, 429})
HEADER = b"idempotency-key"
REPLAYED = (b"idempotent-replayed", b"true")
POLL_SECONDS = 0.05
# The body of a keyed request is read whole (to hash it) before the route runs: bounded here, whatever
# limits the routes set on their own bodies.
MAX_BODY_BYTES = 16 << 20
PURGE_EVERY_SECONDS = 600.0
_DATABASE_ERRORS = (OperationalError, InterfaceError, PoolTimeout)


def _key_error(message: str) -> JSONResponse:
    return JSONResponse({"error": "validation_failed", "message": f"{store.KEY_LABEL}：{message}",
                         "errors": [{"field": "Idempotency-Key", "label": store.KEY_LABEL, "message": message}]},
                        status_code=422)


def _in_progress() -> JSONResponse:
    return JSONResponse({"error": "idempotency_in_progress",
                         "message": "请求正在处理：使用同一幂等键（Idempotency-Key）的上一个请求尚未完成，请稍后重试"},
                        status_code=409, headers={"Retry-After": "1"})


def _mismatch(detail: str) -> JSONResponse:
    what = "请求地址或方法不同" if detail == "path" else "请求内容不同"
    message = f"该幂等键已用于另一个请求（{what}）；新的请求请使用新的幂等键"
    return JSONResponse({"error": "idempotency_key_reused", "message": f"{store.KEY_LABEL}：{message}",
                         "errors": [{"field": "Idempotency-Key", "label": store.KEY_LABEL, "message": message}]},
                        status_code=422)


def _outcome_unknown() -> JSONResponse:
    return JSONResponse({"error": "idempotency_outcome_unknown",
                         "message": "使用该幂等键的请求已经执行，但服务在返回结果前中断，结果未能保存；"
                                    "请查询后再决定是否重新提交（重新提交请使用新的幂等键）"},
                        status_code=409)


class _Stored:
    def __init__(self, response: JSONResponse) -> None:
        self.start = {"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers}
        self.body = response.body


# What a retry gets when the request committed its effect and then failed with an unhandled error
# (the 500 itself is made by Starlette's outermost middleware, outside this one).
_EXECUTED_BUT_FAILED = _Stored(JSONResponse(
    {"error": "internal_error", "message": "请求已经执行，但生成响应时出错；请查询结果，不要重复提交"}, status_code=500))


def _authenticate(request: Request, token: str | None):
    from api.deps import current_claims, current_user

    try:
        return current_user(request, current_claims(request, token))
    except _DATABASE_ERRORS:
        raise
    except Exception:  # 401 (HTTPException) or any refusal: the route answers for itself
        return None


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, param = value.decode("latin-1").partition(" ")
            return param.strip() if scheme.lower() == "bearer" and param.strip() else None
    return None


class IdempotencyMiddleware:
    """Pure ASGI: reads the body of a keyed request once (to hash it), hands the same bytes to the route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] not in METHODS or not scope["path"].startswith("/api/")
                or scope["path"] in EXEMPT_PATHS):
            await self.app(scope, receive, send)
            return
        keys = [v for k, v in scope["headers"] if k == HEADER]
        if not keys:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = request.app.state
        try:
            user = await run_in_threadpool(_authenticate, request, _bearer(scope))
        except _DATABASE_ERRORS:
            await database_unavailable_response()(scope, receive, send)
            return
        if user is None:  # the route itself answers 401
            await self.app(scope, receive, send)
            return
        if len(keys) > 1:
            await _key_error("只能提供一个")(scope, receive, send)
            return
        key = keys[0].decode("latin-1")
        problem = store.key_problem(key)
        if problem:
            await _key_error(problem)(scope, receive, send)
            return

        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > MAX_BODY_BYTES:  # (only an authenticated user gets this far)
                await JSONResponse({"error": "payload_too_large", "message": "请求体过大：带幂等键的请求体不能超过"
                                    f"{MAX_BODY_BYTES // (1 << 20)}MB"}, status_code=413)(scope, receive, send)
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        path = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
        ttl = timedelta(hours=state.settings.idempotency_ttl_hours)
        lookup = dict(user_id=user.id, key=key, method=scope["method"], path=path,
                      body_sha256=hashlib.sha256(body).hexdigest(), ttl=ttl)

        deadline = time.monotonic() + state.settings.idempotency_wait_seconds
        try:
            while True:
                decision = await run_in_threadpool(lambda: store.reserve(state.db, now=state.clock.now(), **lookup))
                if decision.kind != "in_progress" or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_SECONDS)
        except _DATABASE_ERRORS:
            await database_unavailable_response()(scope, receive, send)
            return
        if decision.kind == "replay":
            await send({"type": "http.response.start", "status": decision.status,
                        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in decision.headers] + [REPLAYED]})
            await send({"type": "http.response.body", "body": decision.body})
            return
        if decision.kind != "run":
            answer = {"mismatch": lambda: _mismatch(decision.detail), "unknown": _outcome_unknown}.get(
                decision.kind, _in_progress)()
            await answer(scope, receive, send)
            return
        await self._purge(state, ttl)
        await self._run(scope, receive, send, state, decision.reservation, body)

    async def _run(self, scope: Scope, receive: Receive, send: Send, state, res: store.Reservation,
                   body: bytes) -> None:
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        start: Message | None = None
        parts: list[bytes] = []
        finished = False

        async def capture(message: Message) -> None:
            nonlocal start, finished
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body"):
                return
            finished = True
            # Stored before the client sees it: a client that got an answer can always have it replayed.
            await self._finish(state, res, start, b"".join(parts))
            await send(start)
            await send({"type": "http.response.body", "body": b"".join(parts)})

        token = store.current.set(res)
        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            if finished:
                raise
            if res.committed:  # the effect happened, the answer was lost: say so to every retry
                await self._finish(state, res, _EXECUTED_BUT_FAILED.start, _EXECUTED_BUT_FAILED.body)
            else:
                await self._release(state, res)
            raise
        finally:
            store.current.reset(token)
        if not finished:
            await self._release(state, res)

    async def _finish(self, state, res: store.Reservation, start: Message, body: bytes) -> None:
        status = start["status"]
        if not res.committed and (status >= 500 or status in NOT_STORED):
            await self._release(state, res)
            return
        headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in start.get("headers", [])]
        try:
            await run_in_threadpool(lambda: store.complete(state.db, res, status=status, headers=headers, body=body,
                                                           now=state.clock.now()))
        except Exception:  # the response still goes out; a retry then learns the outcome is unknown
            log.exception("idempotency key %s: the response could not be stored", res.id)

    async def _release(self, state, res: store.Reservation) -> None:
        try:
            await run_in_threadpool(store.release, state.db, res)
        except Exception:  # the key stays locked until LOCK_SECONDS, then a retry takes it over
            log.exception("idempotency key %s could not be released", res.id)

    async def _purge(self, state, ttl: timedelta) -> None:
        now = time.monotonic()
        if getattr(state, "idempotency_purged_at", None) is not None and now - state.idempotency_purged_at < PURGE_EVERY_SECONDS:
            return
        state.idempotency_purged_at = now
        try:
            await run_in_threadpool(lambda: store.purge_expired(state.db, now=state.clock.now(), ttl=ttl))
        except Exception:
            log.exception("purging expired idempotency keys failed")


def install_idempotency(app) -> None:
    app.add_middleware(IdempotencyMiddleware)
