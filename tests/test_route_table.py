"""The app's routes are one flat table and requests are matched through an index by leading path
segments (api/route_table.py): the index must choose the route the whole table would, for every
route, wrong methods (405) and unknown paths (404, the slash redirect) included."""
from __future__ import annotations

import re

import httpx
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Match

from api.route_table import RouteIndex, include_flat, install_route_index


def _whole_table(app: FastAPI, scope: dict):
    """The router's own rule: the first full match in table order, else the first partial one."""
    partial = None
    for route in app.router.routes:
        found, child = route.matches(dict(scope))
        if found == Match.FULL:
            return route, found
        if found == Match.PARTIAL and partial is None:
            partial = (route, found)
    return partial if partial else (None, Match.NONE)


def _sample_paths(app: FastAPI) -> list[str]:
    paths = {"/", "/nothing/here", "/api", "/api/", "/api/nothing", "/api/cases/", "/static", "/static/app.css",
             "/cases/abc", "/api/cases/abc/actions/register", "/a/b/c/d/e"}
    for route in app.router.routes:
        path = getattr(route, "path", "")
        filled = re.sub(r"\{[^}:]+(:int)?\}", "7", re.sub(r"\{[^}]+:path\}", "x/y.txt", path))
        paths.update({filled, filled + "/", filled + "/extra"})
    return sorted(paths)


def test_the_index_chooses_the_route_the_whole_table_would(live_server):
    app = live_server.server.config.app
    index: RouteIndex = app.state.route_index
    paths = _sample_paths(app)
    assert len(paths) > 400
    compared = 0
    for path in paths:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": [],
                     "query_string": b"", "app": app}
            expected, _ = _whole_table(app, scope)
            chosen, _ = index.match(dict(scope))
            assert chosen is expected, (method, path, getattr(chosen, "path", None), getattr(expected, "path", None))
            compared += 1
    # Most paths look at a small group, not the table.
    assert len(index.candidates("/api/cases/7/actions/register")) < len(app.router.routes) / 5
    assert compared > 2000


def test_routers_are_flat_and_the_index_sees_routes_added_later():
    app = FastAPI()
    router = APIRouter(prefix="/api/things", tags=["things"])

    @router.get("/{thing_id}")
    def get_thing(thing_id: int):
        return {"id": thing_id}

    include_flat(app, router)
    install_route_index(app)
    assert all(isinstance(r, APIRoute) or not hasattr(r, "original_router") for r in app.router.routes)
    assert any(getattr(r, "path", "") == "/api/things/{thing_id}" for r in app.router.routes)

    @app.post("/api/things/{thing_id}/poke")  # after the index was built
    def poke(thing_id: int):
        return {"poked": thing_id}

    transport = httpx.ASGITransport(app=app)

    async def run():
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.get("/api/things/3"), await client.post("/api/things/3/poke"),
                    await client.get("/api/things/3/poke"), await client.get("/api/other"),
                    await client.get("/api/things/3/", follow_redirects=False)]

    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    # On a thread of its own: an earlier test in the session may have left this thread's loop running.
    with ThreadPoolExecutor(1) as pool:
        got, poked, wrong_method, missing, slash = pool.submit(asyncio.run, run()).result()
    assert got.json() == {"id": 3}
    assert poked.json() == {"poked": 3}
    assert wrong_method.status_code == 405
    assert missing.status_code == 404
    assert slash.status_code == 307 and slash.headers["location"].endswith("/api/things/3")
    # The routes and the schema are the same as with include_router.
    assert "/api/things/{thing_id}" in app.openapi()["paths"]
    assert app.openapi()["paths"]["/api/things/{thing_id}"]["get"]["tags"] == ["things"]


def test_served_routes_answer_over_http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        assert client.delete("/healthz").status_code == 405
        assert client.post("/api/cases/1/actions/register", json={}).status_code == 401


def test_a_flattened_route_honours_the_apps_dependency_overrides():
    """What ``include_router`` gives its routes — ``app.dependency_overrides`` apply to them — the
    flat table gives too (a test or an operator's hook replacing a dependency)."""
    def who() -> str:
        return "real"

    router = APIRouter(prefix="/api/things")

    @router.get("/{thing_id}/owner")
    def owner(thing_id: int, name: str = Depends(who)):
        return {"id": thing_id, "owner": name}

    app = FastAPI()
    include_flat(app, router)
    install_route_index(app)
    with TestClient(app) as client:
        assert client.get("/api/things/3/owner").json() == {"id": 3, "owner": "real"}
        app.dependency_overrides[who] = lambda: "overridden"
        assert client.get("/api/things/3/owner").json() == {"id": 3, "owner": "overridden"}
        app.dependency_overrides.clear()
        assert client.get("/api/things/3/owner").json() == {"id": 3, "owner": "real"}
