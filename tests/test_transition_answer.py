"""An action's answer is the case page as GET shows it, whatever the lean transition path skipped
reading (cases/ledger/transition_path.py prefetch, cases/ledger/case_hints.py: related units, supervision, names)."""
from __future__ import annotations

from sqlalchemy import select

from cases.models import CaseEvent

FIELDS = ("state", "version", "enterprise", "related_enterprises", "assignee", "supervision", "deadlines", "light",
          "allowed_actions")


def _same_as_page(officer, answer: dict) -> dict:
    page = officer.get(f"/api/cases/{answer['id']}").json()
    assert {k: answer[k] for k in FIELDS} == {k: page[k] for k in FIELDS}
    return page


def test_answer_lists_related_units_and_the_new_responsible_unit(api, world):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={
        "kind": "hazard", "title": "临边防护缺失", "project_id": world.p1.id,
        "related_enterprises": [{"enterprise_id": world.e2.id, "role": "supervisor"}]}).json()
    answer = officer.act(case, "register", enterprise_id=world.e1.id, severity="general",
                         requirements="立即整改").json()
    _same_as_page(officer, answer)
    assert answer["enterprise"]["name"] == world.e1.name
    assert answer["related_enterprises"] == [{"enterprise_id": world.e2.id, "role": "supervisor", "name": world.e2.name}]
    assert answer["supervision"] is None
    # Without related units: the responsible unit's name still comes with the answer.
    plain = officer.post("/api/cases", json={"kind": "hazard", "title": "洞口未封闭", "project_id": world.p1.id}).json()
    answer = officer.act(plain, "register", enterprise_id=world.e2.id, severity="general", requirements="立即整改").json()
    _same_as_page(officer, answer)
    assert answer["enterprise"]["name"] == world.e2.name and answer["related_enterprises"] == []


def test_a_listing_in_the_same_transaction_is_in_the_answer(api, world, db):
    officer = api(world.officer)
    case = officer.post("/api/cases", json={"kind": "major_hazard", "title": "连墙件整层缺失",
                                            "project_id": world.p1.id}).json()
    answer = officer.act(case, "register", enterprise_id=world.e1.id, hazard_item_code="7.2",
                         stop_work_scope="whole", requirements="停工整改").json()
    assert answer["supervision"]["status"] == "listed"
    _same_as_page(officer, answer)
    # The register event and the 挂牌 event it caused keep their order (seq and insertion).
    events = officer.get(f"/api/cases/{case['id']}/events").json()["items"]
    assert [e["action"] for e in events][-2:] == ["register", "listed"]
    with db.session() as s:
        rows = s.execute(select(CaseEvent.id, CaseEvent.seq).where(CaseEvent.case_id == case["id"])
                         .order_by(CaseEvent.seq)).all()
    assert [r.id for r in rows] == sorted(r.id for r in rows)
