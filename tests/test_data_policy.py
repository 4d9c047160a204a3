"""What each role reads of a resource, field by field, and who acts for an enterprise (issue 8, item 5).

Statuses for every route × role × jurisdiction are in tests/test_access_policy.py; here, the
parts of the policy a status cannot show: personal data withheld, transport details withheld,
and that a related unit (监理) cannot take the responsible unit's actions.
"""
from __future__ import annotations

from sqlalchemy import select

from cases.ledger import services
from cases.models import Case, DeliveryAttempt, OutboxMessage
from cases.ledger.policy import ENTERPRISE_PERSONAL_FIELDS
from tests.machine_paths import HttpDriver
from tests.test_access_policy import add_user


def by_id(response) -> dict[int, dict]:
    assert response.status_code == 200, response.text
    return {e["id"]: e for e in response.json()["items"]}


def test_staff_see_every_enterprises_identity_and_personal_data_only_where_they_have_reason(api, db, world, clock):
    with db.transaction() as s:
        from cases.models import Enterprise

        for e in s.scalars(select(Enterprise)):
            e.legal_representative, e.contact_name, e.contact_phone = "张三", "李四", "13800000000"
    wz = api(world.officer_wz)
    seen = by_id(wz.get("/api/enterprises"))
    assert set(seen) == {world.e1.id, world.e2.id}  # names and credit codes for pickers, province-wide
    # e1 is registered in 姑苏区 and works only on a 姑苏区 project: 吴中区 has no reason to know its people
    assert seen[world.e1.id]["name"] and seen[world.e1.id]["credit_score"] == 100
    assert all(seen[world.e1.id][k] is None for k in ENTERPRISE_PERSONAL_FIELDS)
    assert seen[world.e1.id]["contact_details_withheld"] is True
    assert "13800000000" not in wz.get(f"/api/enterprises/{world.e1.id}").text
    assert seen[world.e2.id]["contact_phone"] == "13800000000"  # its own county's enterprise
    # the county's own officer and the city above both counties see both in full
    for user in (world.officer, world.supervisor):
        full = by_id(api(user).get("/api/enterprises"))
        assert full[world.e1.id]["contact_phone"] == "13800000000" and full[world.e1.id]["contact_details_withheld"] is False
    assert by_id(api(world.officer).get("/api/enterprises"))[world.e2.id]["contact_phone"] is None
    # once e1 is the responsible unit of a 吴中区 case, 吴中区 has reason to contact it
    HttpDriver(api, world, clock).create("hazard", world.officer_wz, title="e1在吴中区的隐患", project_id=world.p2.id,
                                         enterprise_id=world.e1.id)
    assert wz.get(f"/api/enterprises/{world.e1.id}").json()["contact_phone"] == "13800000000"
    # an enterprise contact: its own record, in full
    assert list(by_id(api(world.contact).get("/api/enterprises"))) == [world.e1.id]
    assert api(world.contact).get(f"/api/enterprises/{world.e1.id}").json()["contact_phone"] == "13800000000"


def test_a_contact_reads_its_units_messages_without_transport_details(api, db, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard", title="本企业的重大隐患")
    case = drv.act(case, "register", rectification_days=5)
    with db.transaction() as s:
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == case["id"])):
            m.status, m.last_error, m.provider_response = "failed", "Connection refused 10.0.0.7:25", "smtp 10.0.0.7"
            s.add(DeliveryAttempt(message_id=m.id, attempt_no=1, status="failed", started_at=clock.now(),
                                  finished_at=clock.now(), error="Connection refused 10.0.0.7:25",
                                  provider_response="smtp 10.0.0.7", worker="worker-host-1"))
    staff = api(world.admin).get(f"/api/cases/{case['id']}/messages").json()["items"]
    assert any("10.0.0.7" in (m["last_error"] or "") for m in staff)  # the administrators keep the details
    r = api(world.contact).get(f"/api/cases/{case['id']}/messages")
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and {m["recipient_user_id"] for m in items} == {world.contact.id}
    assert "10.0.0.7" not in r.text and "worker-host-1" not in r.text
    assert "off@example.gov.cn" not in r.text and "sup@example.gov.cn" not in r.text
    assert all("last_error" not in m and "provider_response" not in m for m in items)
    assert all(a.keys() >= {"attempt", "status"} and "error" not in a for m in items for a in m["receipts"])


def test_only_the_responsible_units_contacts_act_for_it(api, db, world, clock):
    """e2 is the 监理单位 (a related unit) of e1's case: it may not report completion or ask for more time."""
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard", title="e1负责、e2监理的隐患",
                      related_enterprises=[{"enterprise_id": world.e2.id, "role": "supervisor"}])
    case = drv.act(case, "register")
    supervisor_unit = add_user(db, clock, "contact_b", "enterprise", "320506", world.e2.id)
    with db.session() as s:
        row = s.get(Case, case["id"])
        assert any(r.enterprise_id == world.e2.id for r in row.related)
        responsible = {a.name for a in services.allowed_actions(s, world.contact, row, now=clock.now())}
        related = {a.name for a in services.allowed_actions(s, supervisor_unit, row, now=clock.now())}
    assert {"start_rectification", "report_completion", "request_extension"} & responsible
    assert related == set()
    # over HTTP the case is not even visible to the related unit
    for action in ("report_completion", "request_extension", "start_rectification"):
        r = drv.try_act(case, action, supervisor_unit)
        assert r.status_code == 404, r.text
    assert drv.get(case)["version"] == case["version"]


def test_contacts_read_no_building_register_and_only_their_projects(api, world):
    c = api(world.contact)
    assert by_id(c.get("/api/buildings")) == {}
    assert set(by_id(c.get("/api/projects"))) == {world.p1.id}
    assert set(by_id(api(world.officer).get("/api/buildings"))) == {world.b1.id}
