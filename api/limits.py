"""Request body size limits, enforced while the body streams in, before anything reads it.

A pure ASGI wrapper around the whole application (outside routing, authentication and every
middleware): a request whose ``Content-Length`` is above its route's cap is answered 413 before a
byte of the body is read; a body without a length (chunked) or one that lies about it is counted
as it arrives and answered 413 the moment the cap is passed. The application then sees the client
as gone (``http.disconnect``); whatever it still tries to send is dropped. At most one cap's worth
of body is ever held in memory per request, with or without a token.

Caps, per route: ``BODY_LIMITS`` is a table of (method, path regex, setting name or byte count); the
first match wins, else ``max_json_body_bytes`` (ANJIAN_MAX_JSON_BODY_BYTES, 1 MiB) applies — every
route of the API takes JSON or a small form. An upload route adds its own row, e.g.
``BodyLimit("POST", r"/api/cases/\\d+/attachments", "max_upload_bytes")`` with a setting of that name
(or a number of bytes), and streams the body to disk instead of reading it into memory.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class BodyLimit:
    method: str            # "POST", "PUT", ... or "*"
    path: str              # a regular expression matched against the whole path
    cap: str | int         # the name of a setting (bytes) or a number of bytes

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and re.fullmatch(self.path, path) is not None


# Routes with a cap of their own. First match wins.
BODY_LIMITS: list[BodyLimit] = [
    # Evidence uploads (cases/evidence/): ANJIAN_EVIDENCE_MAX_BYTES plus the form's other fields.
    BodyLimit("POST", r"(/api)?/cases/\d+/evidence", "evidence_max_body_bytes"),
    # Public complaints (no login): a report of at most 4,000 characters and a few short fields.
    BodyLimit("POST", r"/api/public/complaints|/complaint(/status)?", 32 * 1024),
]
DEFAULT_CAP = "max_json_body_bytes"


def cap_for(settings, method: str, path: str) -> int:
    cap: str | int = DEFAULT_CAP
    for rule in BODY_LIMITS:
        if rule.matches(method, path):
            cap = rule.cap
            break
    return int(getattr(settings, cap)) if isinstance(cap, str) else int(cap)


def _size_text(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} 字节"


def _too_large_body(cap: int) -> bytes:
    return json.dumps({"error": "payload_too_large", "message": f"请求体过大：此接口最多接受 {_size_text(cap)}",
                       "max_bytes": cap}, ensure_ascii=False).encode("utf-8")


class BodySizeLimit:
    def __init__(self, app: ASGIApp, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fastapi_app = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = cap_for(self.fastapi_app.state.settings, scope["method"], scope["path"])
        length = None
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
        if length is not None and length > cap:
            await self._refuse(send, cap)  # nothing of the body read
            return

        received = 0
        answered = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, answered
            if answered or received > cap:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    if not started:  # (a response already under way is left to finish)
                        answered = True
                        await self._refuse(send, cap)
                    return {"type": "http.disconnect"}  # the app sees a client that went away
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 is out; drop what the app still sends
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)

    @staticmethod
    async def _refuse(send: Send, cap: int) -> None:
        body = _too_large_body(cap)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def install_body_limits(app: FastAPI) -> None:
    """Wrap the whole middleware stack (install before install_security_headers, which then wraps this)."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: BodySizeLimit(build(), app)  # type: ignore[method-assign]
