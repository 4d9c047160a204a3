"""One flat route table for the app.

FastAPI 0.154's ``include_router`` keeps every router as a nested ``_IncludedRouter``: matching a
request walks each included router in turn, and for each one recomputes the router tree's version
(a loop over its routes) before trying its routes — and the chosen router matches the path a second
time to handle it. With ~45 routers and ~300 routes that costs 0.1–0.75 ms of CPU per request for a
route near the end of the table, and more for a 404 (every route, then the low-priority ones).
Measured in docs/performance.md ("Routing").

Our routers are included without a prefix, dependencies or callbacks of the inclusion's own, and a
router's own prefix and tags are already on each of its routes, so their routes can go straight into the app's own table —
what ``include_router`` did before FastAPI nested them. A router that needs the nested form (router
dependencies, callbacks, responses, or routes of another kind) is included the usual way.
"""
from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, request_response
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import Receive, Scope, Send
from starlette._utils import get_route_path

try:  # FastAPI's own router tells its telemetry which route was chosen; so do we
    from fastapi.telemetry._api import _route_selected
except ImportError:  # pragma: no cover - a FastAPI without it
    def _route_selected(*, scope: Scope, path: str | None, mount: bool = False) -> None:
        return None


def _flattenable(router: APIRouter) -> bool:
    """The router's own prefix and tags are already on each of its routes (FastAPI applies them when a
    route is added); dependencies, callbacks and responses of the router are not flattened here."""
    return (not router.dependencies and not router.callbacks and not router.responses
            and all(type(r) is APIRoute and r.path.startswith(router.prefix)
                    and all(t in r.tags for t in router.tags) for r in router.routes))


def include_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app``'s own table, or include it nested where it must be."""
    if not _flattenable(router):
        app.include_router(router)
        return
    for route in router.routes:
        # What an inclusion gives them: ``app.dependency_overrides`` apply. The request handler
        # captured the provider when the route was made (None), so it is built again with it.
        route.dependency_overrides_provider = app
        route.app = request_response(route.get_route_handler())
    app.router.routes.extend(router.routes)
    app.router._mark_routes_changed()  # FastAPI's cache of effective routes (a private name; tested)


# ---------------------------------------------------------------- an index by leading path segments

def _literal_prefix(route: BaseRoute) -> tuple[str, ...] | None:
    """The leading literal segments of a route's path (at most two), or None when its first
    segment is a parameter (such a route may match any path)."""
    path = getattr(route, "path", None)
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    parts = path[1:].split("/")
    literal: list[str] = []
    for i, part in enumerate(parts[:2]):
        if "{" in part:
            break
        if isinstance(route, Mount) and i == len(parts) - 1:
            literal.append(part)  # a mount matches below its own path
            break
        literal.append(part)
    return tuple(literal) or None


def _path_key(path: str) -> tuple[str, str | None]:
    parts = path[1:].split("/", 2)
    return parts[0], (parts[1] if len(parts) > 1 else None)


class RouteIndex:
    """The app's routes grouped by the first two segments of the path they can match, in table order.

    A route whose first (second) segment is literal can only match a path with that first (second)
    segment, so trying just the routes of a path's group finds the same first full match — and the
    same first partial one (a 405) — as trying the whole table, in a few dozen steps instead of ~260.
    Paths the index finds nothing for go to the router's own loop (404, the slash redirect, FastAPI's
    low-priority routes), unchanged. Groups are made for known segments only (a path of unknown
    segments shares one group), so strange paths cannot grow the index.
    """

    def __init__(self, router: APIRouter) -> None:
        self.router = router
        self._stamp: tuple[int, int] | None = None
        self._groups: dict[tuple[str | None, str | None], list[BaseRoute]] = {}
        self._first: set[str] = set()
        self._second: set[str] = set()

    def _refresh(self) -> None:
        stamp = (len(self.router.routes), getattr(self.router, "_routes_version", 0))
        if stamp == self._stamp:
            return
        prefixes = [(route, _literal_prefix(route)) for route in self.router.routes]
        self._first = {p[0] for _, p in prefixes if p}
        self._second = {p[1] for _, p in prefixes if p and len(p) > 1}
        self._groups = {}
        self._stamp = stamp

    def candidates(self, path: str) -> list[BaseRoute]:
        self._refresh()
        first, second = _path_key(path)
        key = (first if first in self._first else None, second if second in self._second else None)
        group = self._groups.get(key)
        if group is None:
            group = [route for route in self.router.routes if _may_match(_literal_prefix(route), first, second)]
            self._groups[key] = group
        return group

    def match(self, scope: Scope) -> tuple[BaseRoute | None, Scope]:
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.candidates(get_route_path(scope)):
            found, child_scope = route.matches(scope)
            if found == Match.FULL:
                return route, child_scope
            if found == Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        return partial if partial is not None else (None, {})


def _may_match(prefix: tuple[str, ...] | None, first: str, second: str | None) -> bool:
    if prefix is None:
        return True
    if prefix[0] != first:
        return False
    return len(prefix) < 2 or prefix[1] == second


def install_route_index(app: FastAPI) -> None:
    """Route HTTP requests through a ``RouteIndex`` (the app's router keeps its table, its OpenAPI and
    everything that walks ``app.routes``)."""
    router = app.router
    if router.middleware_stack != router.app:  # a router with middleware of its own: leave it be
        return
    index = RouteIndex(router)
    fallback = router.middleware_stack

    async def indexed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await fallback(scope, receive, send)
            return
        route, child_scope = index.match(scope)
        if route is None:
            await fallback(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = router
        scope.update(child_scope)
        _route_selected(scope=scope, path=getattr(route, "path_format", None), mount=isinstance(route, Mount))
        await route.handle(scope, receive, send)

    router.middleware_stack = indexed
    app.state.route_index = index
