"""An enterprise contact sees its own unit's cases and its own enterprise record, nothing else.

"Its own unit's cases" are the cases whose responsible unit (责任单位, ``Case.enterprise_id``) is its
enterprise. Being the project's 施工单位, or a related unit (监理单位 …) of a case whose responsible
unit is another enterprise, does not make that case visible. What one may not see answers 404, in
the same words as what does not exist.
"""
from __future__ import annotations

from datetime import timedelta

from tests.machine_paths import HttpDriver

NOWHERE = 2_000_000_000  # an id nothing has


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def test_contact_of_a_sees_nothing_of_b(api, world, clock, db):
    drv = HttpDriver(api, world, clock)
    # A = e1 (world.contact's unit), B = e2.
    own = drv.create("hazard", title="A为责任单位")
    # A is the 施工单位 of p1, but B is this case's responsible unit.
    b_on_a_project = drv.create("major_hazard", title="B为责任单位（A的项目）", enterprise_id=world.e2.id)
    b_on_a_project = drv.act(b_on_a_project, "register", enterprise_id=world.e2.id, rectification_days=5)
    assert b_on_a_project["supervision"] is not None
    # A is named as a related unit (监理单位) on B's case.
    b_related = drv.create("hazard", world.officer_wz, title="A为相关单位", project_id=world.p2.id,
                           enterprise_id=world.e2.id,
                           related_enterprises=[{"enterprise_id": world.e1.id, "role": "supervisor"}])
    b_elsewhere = drv.create("hazard", world.officer_wz, title="与A无关", project_id=world.p2.id,
                             enterprise_id=world.e2.id)
    b_cases = [b_on_a_project, b_related, b_elsewhere]
    officer = drv.client(world.officer)
    b_docs = officer.get(f"/api/cases/{b_on_a_project['id']}/documents").json()["items"]
    assert b_docs, "registering a major hazard issues documents"
    sup_id = b_on_a_project["supervision"]["id"]
    clock.advance(timedelta(days=40))  # B's case is now overdue: red
    assert officer.get("/api/overdue").json()["total"] >= 1

    c = drv.client(world.contact)
    # lists, search, filters, queue, overdue, counts
    assert ids(c.get("/api/cases")) == [own["id"]]
    assert c.get("/api/cases").json()["total"] == 1
    assert ids(c.get("/api/cases", params={"q": b_on_a_project["number"]})) == []
    assert ids(c.get("/api/cases", params={"enterprise_id": world.e2.id})) == []
    assert ids(c.get("/api/cases", params={"light": "red"})) == []
    assert ids(c.get("/api/queue")) == [own["id"]]
    assert c.get("/api/queue").json()["total"] == 1
    assert c.get("/api/overdue").json()["total"] == 0
    totals = c.get("/api/stats/lights").json()["totals"]
    assert sum(totals.values()) == 1 and totals["red"] == 0
    # detail and everything under a case
    for case in b_cases:
        for tail in ("", "/events", "/deadlines", "/escalations", "/documents", "/messages"):
            r = c.get(f"/api/cases/{case['id']}{tail}")
            missing = c.get(f"/api/cases/{NOWHERE}{tail}")
            assert r.status_code == 404, (tail, r.text)
            assert r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(case["id"])), tail
        r = c.post(f"/api/cases/{case['id']}/actions/comment", json={"version": case["version"], "comment": "看看"})
        assert r.status_code == 404, r.text
    # documents
    for d in b_docs:
        for suffix in ("", ".pdf", ".html"):
            r = c.get(f"/api/documents/{d['id']}{suffix}")
            missing = c.get(f"/api/documents/{NOWHERE}{suffix}")
            assert r.status_code == 404, (suffix, r.text)
            assert r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(d["id"]))
    # supervisions
    r, missing = c.get(f"/api/supervisions/{sup_id}"), c.get(f"/api/supervisions/{NOWHERE}")
    assert r.status_code == 404 and missing.status_code == 404
    assert r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(sup_id))
    assert c.post(f"/api/supervisions/{sup_id}/extension", json={"days": 5, "reason": "想延期"}).status_code == 404
    assert c.get("/api/supervisions").status_code == 403
    # reference data: its own enterprise only, no one else's credit score or phone
    r = c.get("/api/enterprises")
    assert ids(r) == [world.e1.id] and r.json()["items"][0]["credit_score"] == 100
    assert ids(c.get("/api/enterprises", params={"q": "吴中"})) == []
    assert c.get(f"/api/enterprises/{world.e1.id}").status_code == 200
    r, missing = c.get(f"/api/enterprises/{world.e2.id}"), c.get(f"/api/enterprises/{NOWHERE}")
    assert r.status_code == 404 and "credit_score" not in r.text
    assert r.json()["message"] == missing.json()["message"].replace(str(NOWHERE), str(world.e2.id))
    assert ids(c.get("/api/projects")) == [world.p1.id]  # A takes part in p1 only
    assert ids(c.get("/api/buildings")) == []
    assert c.get("/api/users").status_code == 403

    # staff still see everything in their jurisdiction
    assert set(ids(drv.client(world.supervisor).get("/api/cases"))) == {own["id"], *(x["id"] for x in b_cases)}
    assert len(ids(officer.get("/api/enterprises"))) == 2
    # and B's own contact sees B's cases, not A's
    from cases.models import User
    from tests.conftest import password_hash

    with db.transaction() as s:
        b_contact = User(username="contact_b", display_name="contact_b", password_hash=password_hash(),
                         role="enterprise", jurisdiction_code="320506", enterprise_id=world.e2.id, active=True,
                         created_at=clock.now())
        s.add(b_contact)
        s.flush()
        s.expunge(b_contact)
    cb = drv.client(b_contact)
    assert set(ids(cb.get("/api/cases"))) == {x["id"] for x in b_cases}
    assert cb.get(f"/api/cases/{own['id']}").status_code == 404
    assert ids(cb.get("/api/enterprises")) == [world.e2.id]
    assert set(ids(cb.get("/api/projects"))) == {world.p2.id}  # p2 only: not a party on p1


def test_contact_reads_its_own_case_messages_only(api, world, clock, db):
    """On its own case a contact sees what was sent to its unit, not the authorities' messages."""
    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard", title="本企业的重大隐患")
    case = drv.act(case, "register", rectification_days=5)
    staff_view = drv.client(world.officer).get(f"/api/cases/{case['id']}/messages").json()["items"]
    assert any(m["recipient_user_id"] != world.contact.id for m in staff_view)
    mine = drv.client(world.contact).get(f"/api/cases/{case['id']}/messages")
    assert mine.status_code == 200
    items = mine.json()["items"]
    assert items and {m["recipient_user_id"] for m in items} == {world.contact.id}
