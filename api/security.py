"""Security headers on every response, and the API docs (Swagger UI, ReDoc) served from this app.

Every response — JSON, errors (including the 500 page of Starlette's outermost error middleware), the docs
and their assets — carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
``X-Frame-Options: DENY`` and a Content-Security-Policy that allows this origin only and no framing;
``Strict-Transport-Security`` is added only when the request came over https. A response that sets its own
Content-Security-Policy keeps it (the printable document HTML is sandboxed: ``DOCUMENT_CSP``).

The docs pages load their scripts and styles from ``/static/docs`` (the files of the ``fastapi-offline``
package, plus two small initialisers of our own in ``api/static``): no request leaves the machine, and no
inline script is needed, so the CSP needs no ``'unsafe-inline'`` for scripts.
"""
from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# JSON, errors and the docs pages. Inline styles: Swagger UI and ReDoc (styled-components) set them;
# data: images are the icons in their CSS; ReDoc's search runs in a worker made from a blob: URL.
DEFAULT_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; form-action 'self'; "
               "frame-ancestors 'none'")
# The printable document HTML holds user text (hazard descriptions, names): it may never run script on
# this origin. The print layout needs only its <style> block and style attributes; fonts are local
# (system CJK fonts by name), images none (data: allowed for a future seal image).
DOCUMENT_CSP = ("sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HSTS = "max-age=31536000"

_COMMON = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY"))

DOCS_STATIC_URL = "/static/docs"
_OWN_STATIC = Path(__file__).parent / "static"


class SecurityHeaders:
    """Pure ASGI wrapper (no buffering of streamed bodies) adding the headers to ``http.response.start``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                extra = [(k, v) for k, v in _COMMON if k not in present]
                if b"content-security-policy" not in present:
                    extra.append((b"content-security-policy", DEFAULT_CSP.encode()))
                if https and b"strict-transport-security" not in present:
                    extra.append((b"strict-transport-security", HSTS.encode()))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app: FastAPI) -> None:
    """Wrap the whole middleware stack, so that even Starlette's own 500 response carries the headers."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build())  # type: ignore[method-assign]


def _offline_assets() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    return HTMLResponse(f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" type="image/png" href="{DOCS_STATIC_URL}/favicon.png">
{head}
</head>
<body>
{body}
</body>
</html>
""")


def install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with every asset served by this app (create the app with
    ``docs_url=None, redoc_url=None``)."""
    app.mount(f"{DOCS_STATIC_URL}/own", StaticFiles(directory=_OWN_STATIC), name="docs-own-static")
    app.mount(DOCS_STATIC_URL, StaticFiles(directory=_offline_assets()), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            f"{app.title} - Swagger UI",
            f'<link rel="stylesheet" href="{root}{DOCS_STATIC_URL}/swagger-ui.css">',
            f'<div id="swagger-ui" data-openapi-url="{escape(root + (app.openapi_url or ""))}"></div>\n'
            f'<script src="{root}{DOCS_STATIC_URL}/swagger-ui-bundle.js"></script>\n'
            f'<script src="{root}{DOCS_STATIC_URL}/own/swagger-init.js"></script>')

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            f"{app.title} - ReDoc", '<link rel="stylesheet" href="' f'{root}{DOCS_STATIC_URL}/own/redoc.css">',
            f'<redoc spec-url="{escape(root + (app.openapi_url or ""))}"></redoc>\n'
            f'<script src="{root}{DOCS_STATIC_URL}/redoc.standalone.js"></script>')
