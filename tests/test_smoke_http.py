"""The basic path over real HTTP: log in, create, register, read events."""
from __future__ import annotations

import httpx


def test_login_create_and_register(live_server, world, api):
    r = httpx.post(f"{live_server.url}/api/auth/token", data={"username": "officer", "password": "secret-pw"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    bad = httpx.post(f"{live_server.url}/api/auth/token", data={"username": "officer", "password": "nope"})
    assert bad.status_code == 401 and "密码" in bad.json()["message"]

    h = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{live_server.url}/api/cases", headers=h, json={
        "kind": "hazard", "title": "脚手架连墙件缺失", "project_id": world.p1.id, "category": "scaffolding"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["state"] == "found" and case["version"] == 1
    assert case["number"].startswith("320508-YH-2026-")
    assert "register" in case["allowed_actions"]

    officer = api(world.officer)
    r = officer.act(case, "register", enterprise_id=world.e1.id, severity="general", requirements="立即整改")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "registered" and r.json()["version"] == 2
    events = officer.get(f"/api/cases/{case['id']}/events").json()["items"]
    assert [e["action"] for e in events] == ["create", "register"]
    assert events[1]["actor"]["name"] == "officer"
