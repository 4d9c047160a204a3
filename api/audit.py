"""The security log's entries that the API writes: permission denials (403) and admin acts.

- A 403 (a DomainError Forbidden or an HTTPException 403) is logged from the error handlers
  (api/errors.py) with the user (if the request was authenticated), method, path and reason.
- Every successful (status < 400) mutating request (POST/PUT/PATCH/DELETE) of a user with role admin
  is logged by ``AdminActLog``, a pure ASGI wrapper, with method, path and target (the path
  parameters), after the response went out; a route that writes its own, more specific entry
  (deactivation, password change) sets ``request.state.security_logged`` and is not logged twice.
Writing the entry is best effort: if it fails the failure is logged and the response stands.
"""
from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cases.platform.security_log import log_admin_act, log_permission_denied

log = logging.getLogger("anjian.api")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def _client(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client else None


async def record_denial(request: Request, reason: str) -> None:
    state = request.scope.get("state") or {}
    user = state.get("user")
    app_state = request.app.state

    def write() -> None:
        with app_state.db.transaction() as s:
            log_permission_denied(s, app_state.clock.now(), user.id if user is not None else None,
                                  request.method, request.url.path, reason, _client(request.scope))

    try:
        await run_in_threadpool(write)
    except Exception:  # noqa: BLE001 - never turn a 403 into a 500
        log.exception("could not write the security log (permission denied)")


class AdminActLog:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        status, replayed = 0, False

        async def watch(message: Message) -> None:
            nonlocal status, replayed
            if message["type"] == "http.response.start":
                status = message["status"]
                # A replay of a stored Idempotency-Key response (api/idempotency.py) did nothing: the
                # act was logged when it was done.
                replayed = any(k.lower() == b"idempotent-replayed" for k, _ in message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, watch)
        state = scope.get("state") or {}
        user = state.get("user")
        if (user is None or user.role != "admin" or not 200 <= status < 400 or replayed
                or state.get("security_logged")):
            return
        params = scope.get("path_params") or {}
        target = json.dumps(params, ensure_ascii=False, default=str) if params else None
        app_state = self.fastapi_app.state

        def write() -> None:
            with app_state.db.transaction() as s:
                log_admin_act(s, app_state.clock.now(), user.id, scope["method"], scope["path"], target,
                              _client(scope), status)

        try:
            await run_in_threadpool(write)
        except Exception:  # noqa: BLE001 - the act is done; a missing log entry is reported, not raised
            log.exception("could not write the security log (admin act %s %s)", scope["method"], scope["path"])


def install_admin_act_log(app: FastAPI) -> None:
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: AdminActLog(build(), app)  # type: ignore[method-assign]
