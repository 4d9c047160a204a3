"""The big reads skip FastAPI's jsonable_encoder (api/responses.py ``fast_json``): the bytes must be
the ones the long way gives, route by route and role by role; and their statement counts do not
grow with the rows they list."""
from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from starlette.responses import JSONResponse

from api import responses
from tests.test_reads import _inbox_messages, statements

ROUTES = ("/api/cases", "/api/cases?page_size=200&sort=state,-updated_at", "/api/queue", "/api/overdue", "/api/stats/lights",
          "/api/inbox", "/api/supervisions", "/api/cases/{case}", "/api/cases/{case}/events",
          "/api/jurisdictions", "/api/projects", "/api/enterprises", "/api/buildings", "/api/hazard-catalog")
# (role, route) answered 403: left out, a refusal is written to the security log, which admin lists.
REFUSED = {("contact", "/api/supervisions"), ("officer", "/api/admin/security-log"),
           ("supervisor", "/api/admin/security-log"), ("contact", "/api/admin/security-log")}


def _routes(role: str) -> list[str]:
    return [r for r in (*ROUTES, "/api/admin/security-log") if (role, r) not in REFUSED]


class _Model(BaseModel):
    at: datetime
    n: int


def test_fast_json_renders_what_jsonable_encoder_and_json_would():
    shanghai = timezone(timedelta(hours=8))
    body = {
        "utc": datetime(2026, 11, 26, 8, 0, tzinfo=timezone.utc),
        "micro": datetime(2026, 11, 26, 8, 0, 0, 1234, tzinfo=timezone.utc),
        "beijing": datetime(2026, 11, 26, 16, 0, tzinfo=shanghai),
        "naive": datetime(2026, 11, 26, 8, 0, 5),
        "day": date(2026, 12, 2), "time": time(9, 30), "money": Decimal("12.50"), "whole": Decimal("3"),
        "tags": ("a", "b"), "id": uuid.UUID(int=7), "model": _Model(at=datetime(2026, 1, 1, tzinfo=timezone.utc), n=1),
        "items": [{"名称": "姑苏区", "x": [1.5, None, True, -0.25], "nested": {"a": "b\"c"}, "big": 2**53, 7: "int key"}],
    }
    fast = responses.fast_json(body)
    assert fast.body == responses.OrjsonResponse(jsonable_encoder(body)).body
    assert fast.body == JSONResponse(jsonable_encoder(body)).body
    assert b'"naive":"2026-11-26T08:00:05"' in fast.body and b'"beijing":"2026-11-26T16:00:00+08:00"' in fast.body
    assert b'"money":12.5' in fast.body and b'"whole":3' in fast.body
    with pytest.raises(TypeError):
        responses.fast_json({"x": object()})


def _data(api, world, clock, db) -> dict:
    officer = api(world.officer)
    made = []
    for days in (2, 5, 30):
        case = officer.post("/api/cases", json={"kind": "hazard", "title": f"{days}日内整改临边防护", "project_id": world.p1.id}).json()
        made.append(officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改",
                                rectification_days=days).json())
    major = officer.post("/api/cases", json={"kind": "major_hazard", "title": "连墙件整层缺失", "project_id": world.p1.id}).json()
    made.append(officer.act(major, "register", enterprise_id=world.e1.id, hazard_item_code="7.2", stop_work_scope="whole",
                            requirements="停工整改").json())
    made.append(officer.post("/api/cases", json={"kind": "hazard", "title": "未登记的", "project_id": world.p1.id}).json())
    _inbox_messages(db, clock, made, world.officer, "fast")
    clock.advance(timedelta(days=4, hours=3, microseconds=1234))  # one red, one yellow, the rest green
    return made[0]


def test_fast_json_routes_give_the_same_bytes(api, world, clock, db, monkeypatch):
    case = _data(api, world, clock, db)
    users = {"officer": world.officer, "supervisor": world.supervisor, "contact": world.contact, "admin": world.admin}
    fast = {}
    for role, user in users.items():
        client = api(user)
        for route in _routes(role):
            r = client.get(route.format(case=case["id"]))
            fast[role, route] = (r.status_code, r.content)
    assert {k for k, (st, _) in fast.items() if st != 200} == set()
    assert fast["supervisor", "/api/overdue"][0] == 200 and b'"light":"red"' in fast["supervisor", "/api/overdue"][1]
    assert b'"unread":5' in fast["officer", "/api/inbox"][1]
    monkeypatch.setattr(responses, "fast_json", lambda content, status_code=200: content)  # the long way
    for role, user in users.items():
        client = api(user)
        for route in _routes(role):
            r = client.get(route.format(case=case["id"]))
            assert (r.status_code, r.content) == fast[role, route], (role, route)


def test_an_action_answers_the_bytes_the_long_way_gives(api, world, clock, db, monkeypatch):
    """``POST …/actions/{action}`` answers the case as ``fast_json`` renders it: what FastAPI's
    jsonable_encoder and JSONResponse would have sent for the same content."""
    seen = []
    real = responses.fast_json

    def spy(content, status_code=200):
        seen.append(content)
        return real(content, status_code)

    monkeypatch.setattr(responses, "fast_json", spy)
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "hazard", "title": "脚手架连墙件缺失", "project_id": world.p1.id}).json()
    r = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改",
                    rectification_days=5)
    assert r.status_code == 200 and len(seen) == 1
    assert r.content == JSONResponse(jsonable_encoder(seen[0])).body
    assert r.json()["state"] == "registered" and r.json()["documents_issuing"]


def _counts(db, client) -> dict[str, int]:
    out = {}
    for route in ("/api/cases?page_size=200", "/api/queue", "/api/overdue"):
        with statements(db) as seen:
            r = client.get(route)
        assert r.status_code == 200, r.text
        out[route] = (len(seen), r.json()["total"])
    return out


def test_list_statements_do_not_grow_with_rows(api, world, clock, db):
    officer = api(world.officer)

    def hazards(n: int) -> None:
        for i in range(n):
            case = officer.post("/api/cases", json={"kind": "hazard", "title": f"{i}号楼临边", "project_id": world.p1.id}).json()
            officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="整改",
                        rectification_days=2)

    hazards(1)
    clock.advance(timedelta(days=5))
    few = _counts(db, officer)
    hazards(6)
    clock.advance(timedelta(days=5))
    many = _counts(db, officer)
    assert [t for _, t in many.values()] == [7, 7, 7]
    assert {k: n for k, (n, _) in many.items()} == {k: n for k, (n, _) in few.items()}, (few, many)
