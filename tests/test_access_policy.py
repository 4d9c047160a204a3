"""Every route × role × jurisdiction, generated from the app's route table (issue 8, item 5).

The routes come from the running app (``fastapi.routing.iter_route_contexts(app.routes)``), not
from a list written here; the expected outcome of each comes from the declared table in
``api/route_policy.py`` (one line per route, one token per actor; its docstring describes the
scenario and the tokens). A route of the app without a line there fails
``test_every_route_has_a_declared_policy``; a line whose outcome the server does not give fails
``test_every_route_role_and_jurisdiction`` (all mismatches are listed at once).

Adding a route: add its line to ``api/route_policy.py``; if its path has an id the test does not
know yet, map the parameter name in ``PATH_IDS`` (or the route in ``ROUTE_IDS``); if it takes a
body or required query, add a sample in ``REQUESTS`` (a function of the scenario and the actor);
if it changes state the next actor must not meet, restore it in ``RESETS``; if it ends the
caller's session, list it in ``OWN_SESSION_ROUTES``. (The sessions routes of s8/auth already have
their ids, bodies, resets and session handling here; their lines are in api/route_policy.py,
commented out until that branch is merged.)
Static file mounts (``/static/docs``) are not routes with a policy: they serve the docs' assets.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from starlette.routing import Mount

from api.route_policy import ACTORS, ROUTES, TOKENS, expectations
from cases.ledger.identifiers import make_credit_code
from cases.models import Document, OutboxMessage, User
from cases.ledger.policy import RESOURCES
from tests.conftest import complete_project, password_hash
from tests.evidence_files import tiny_png, upload_photo
from tests.machine_paths import HttpDriver


def app_routes(app) -> list[str]:
    """``"METHOD /path"`` for every route the app serves (HEAD aside), in the app's order."""
    out = []
    for r in iter_route_contexts(app.routes):
        if isinstance(r.original_route, Mount):
            continue
        for method in sorted(r.methods or ()):
            if method != "HEAD":
                out.append(f"{method} {r.path}")
    return out


def test_every_route_has_a_declared_policy(live_server):
    routes = app_routes(live_server.server.config.app)
    assert len(routes) > 40  # the walk sees the included routers' routes
    missing = [r for r in routes if r not in ROUTES]
    stale = [r for r in ROUTES if r not in routes]
    assert not missing, f"routes without a declared policy (add a line to api/route_policy.py): {missing}"
    assert not stale, f"api/route_policy.py declares routes the app does not have: {stale}"
    for route, (resource, _) in ROUTES.items():
        assert resource in RESOURCES, f"{route}: unknown resource {resource!r} (cases/ledger/policy.py RESOURCES)"
        tokens = set(expectations(route).values())
        assert tokens <= TOKENS, route
        # a list route with a target says, per actor, whether the target is listed
        if route in LIST_TARGETS:
            assert "2" not in tokens, f"{route}: a list checked for its target: use 2+ / 2-"
        else:
            assert not tokens & {"2+", "2-"}, f"{route}: 2+ / 2- need a target in LIST_TARGETS"


def test_the_walk_finds_routes_of_included_routers():
    """A route added on any router reaches the table check (FastAPI nests included routers)."""
    from fastapi import APIRouter, FastAPI

    inner, outer, app = APIRouter(prefix="/inner"), APIRouter(prefix="/api"), FastAPI()
    inner.add_api_route("/thing/{thing_id}", lambda thing_id: None, methods=["PATCH"])
    outer.include_router(inner)
    app.include_router(outer)
    assert "PATCH /api/inner/thing/{thing_id}" in app_routes(app)
    assert "PATCH /api/inner/thing/{thing_id}" not in ROUTES


# ---------------------------------------------------------------- the scenario


class Scenario:
    """The ids the paths point at, and the extra users (see api/route_policy.py's docstring)."""

    case: dict
    supervision_id: int
    doc_id: int
    failed_doc_id: int
    failed_message_id: int
    inbox_message_id: int
    staff_message_id: int
    target_user_id: int  # an officer of 320508 that account-management routes act on
    evidence_id: int     # a photo on the case
    inspection_id: int   # an inspection of the 姑苏区 project, one failed item (with a photo)
    inspection_item_id: int
    checklist_id: int
    checklist_items: list[str]
    complaint_id: int    # a 12345 referral in 320508 (cases/complaints/), on a case of its own
    complaint_case_id: int
    complaint_code: str
    campaign_id: int     # a campaign of 苏州市 320500 with 320508 in scope
    analog_task_id: int  # a 类比排查 task of the case, for p1
    credit_record_id: int  # e1's 不良行为记录 for the case's registration (recorded by 320508)
    interview_id: int    # a 约谈 of the case summoning e1 and 姑苏区, held, with one commitment (cases/interviews/)
    commitment_id: int
    referral_id: int     # a referral (移送) of the case to 公安 (cases/referrals/)
    report_submission_id: int  # 姑苏区's 2026年10月 report (cases/reports/)
    users: dict[str, User | None]


def add_user(db, clock, username: str, role: str, code: str, enterprise_id: int | None = None) -> User:
    with db.transaction() as s:
        u = User(username=username, display_name=username, password_hash=password_hash(), role=role,
                 jurisdiction_code=code, enterprise_id=enterprise_id, active=True, created_at=clock.now())
        s.add(u)
        s.flush()
        s.expunge(u)
    return u


def add_referral(db, clock, world, case_id: int) -> int:
    """A referral of the case to 公安 (cases/referrals/), awaiting its reply."""
    from cases.referrals import services as referrals

    with db.transaction() as s:
        return referrals.refer(s, s.get(User, world.officer.id), case_id,
                               {"target": "public_security", "body_name": "苏州市公安局姑苏分局"}, clock.now()).id


def add_analog_task(db, clock, case_id: int, project_id: int) -> int:
    """A 类比排查 task of the case for a project of 320508 (cases/analogs/)."""
    from cases.models import AnalogTask

    with db.transaction() as s:
        t = AnalogTask(source_case_id=case_id, project_id=project_id, jurisdiction_code="320508",
                       reason="same_category", due_on=clock.now().date(), status="open", created_at=clock.now())
        s.add(t)
        s.flush()
        return t.id


def add_interview(db, clock, world, case_id: int) -> tuple[int, int]:
    """A 约谈 of the case by 姑苏区's officer, summoning e1 and the bureau, held, one commitment."""
    from datetime import timedelta

    from cases.interviews import services as interviews
    from cases.models import User as U

    now = clock.now()
    with db.transaction() as s:
        officer = s.get(U, world.officer.id)
        iv = interviews.create_interview(s, officer, {
            "case_id": case_id, "reason": "矩阵约谈", "scheduled_at": now.isoformat(), "place": "姑苏区住建局会议室",
            "summon_enterprise": True, "summon_authority": True}, now)
        unit = interviews.units_of(s, iv.id)[0]
        interviews.record_held(s, officer, iv.id, {
            "held_at": now.isoformat(), "hosts": "officer", "minutes": "测试",
            "attendees": [{"name": "周", "unit": world.e1.name, "position": "经理"}],
            "commitments": [{"content": "完成整改", "responsible_person": "周", "unit_id": unit.id,
                             "due_date": (now + timedelta(days=10)).date().isoformat()}]}, now)
        from cases.models import InterviewCommitment

        return iv.id, s.scalars(select(InterviewCommitment.id).where(InterviewCommitment.interview_id == iv.id)).one()


@pytest.fixture
def scenario(api, db, world, clock, fresh_data_settings) -> Scenario:
    from notifications.documents.store import render_pending_documents

    sc = Scenario()
    drv = HttpDriver(api, world, clock)
    case = drv.create("major_hazard", title="权限矩阵用重大隐患",
                      related_enterprises=[{"enterprise_id": world.e2.id, "role": "supervisor"}])
    sc.case = drv.act(case, "register", rectification_days=5)
    sc.supervision_id = sc.case["supervision"]["id"]
    complete_project(db, world, clock)
    render_pending_documents(db, clock.now(), settings=fresh_data_settings)
    with db.transaction() as s:
        docs = list(s.scalars(select(Document).where(Document.case_id == sc.case["id"]).order_by(Document.id)))
        assert len(docs) >= 2 and all(d.status == "rendered" for d in docs), [(d.status, d.error) for d in docs]
        sc.doc_id = docs[0].id
        docs[-1].status, docs[-1].error = "failed", "测试：数据有误"
        sc.failed_doc_id = docs[-1].id
        msgs = list(s.scalars(select(OutboxMessage).where(OutboxMessage.case_id == sc.case["id"])
                              .order_by(OutboxMessage.id)))
        to_contact = next(m for m in msgs if m.recipient_user_id == world.contact.id and m.channel == "inbox")
        to_contact.status = "sent"
        sc.inbox_message_id = to_contact.id
        sc.staff_message_id = next(m.id for m in msgs if m.recipient_user_id == world.officer.id)
        failed = next(m for m in msgs if m.id != to_contact.id)
        failed.status, failed.last_error = "failed", "测试：发送失败"
        sc.failed_message_id = failed.id
    sc.target_user_id = add_user(db, clock, "target_officer", "officer", "320508").id
    sc.analog_task_id = add_analog_task(db, clock, sc.case["id"], world.p1.id)
    with db.session() as s:
        from cases.models import CreditRecord
        sc.credit_record_id = s.scalar(select(CreditRecord.id).where(CreditRecord.source_key == f"major_hazard:{sc.case['id']}"))
    sc.interview_id, sc.commitment_id = add_interview(db, clock, world, sc.case["id"])
    sc.referral_id = add_referral(db, clock, world, sc.case["id"])
    from cases.reports import services as periodic_reports

    with db.transaction() as s:
        sc.report_submission_id = periodic_reports.submit(s, s.get(User, world.officer.id), "320508", "month", "2026-10",
                                                          now=clock.now()).id
    sc.evidence_id = upload_photo(api(world.officer), sc.case["id"])["id"]
    from cases.complaints import services as complaints

    with db.transaction() as s:
        complaint, sc.complaint_code = complaints.refer_12345(s, world.officer, {
            "referral_no": "GD-MATRIX-1", "content": "工地夜间施工噪音扰民", "jurisdiction_code": "320508"}, clock.now())
        sc.complaint_id, sc.complaint_case_id = complaint.id, complaint.case_id
    sc.campaign_id = add_campaign(db, clock, world)
    sc.users = {
        "anon": None, "ent": world.contact, "off": world.officer, "off_wz": world.officer_wz,
        "city": world.supervisor, "prov": world.province, "root": world.admin,
        "ent_b": add_user(db, clock, "contact_b", "enterprise", "320506", world.e2.id),
        "adm": add_user(db, clock, "admin_gusu", "admin", "320508"),
        "adm_wz": add_user(db, clock, "admin_wz", "admin", "320506"),
    }
    _add_inspection(sc, api, db, world, clock)
    return sc


def _add_inspection(sc: Scenario, api, db, world, clock) -> None:
    """An inspection of the 姑苏区 project (p1, e1 its 施工单位) with one failed item that has a photo."""
    from cases.inspections.checklists import latest_versions, sync_shipped

    with db.transaction() as s:
        sync_shipped(s, clock.now())
        chk = next(c for c in latest_versions(s) if c.code == "comprehensive")
        sc.checklist_id, sc.checklist_items = chk.id, [it["code"] for it in chk.items]
    officer = api(world.officer)
    r = officer.post("/api/inspections", json=_inspection_body(sc, world.p1.id, fail="GL-04"))
    assert r.status_code == 201, r.text
    sc.inspection_id = r.json()["id"]
    sc.inspection_item_id = next(i["id"] for i in r.json()["items"] if i["result"] == "fail")
    r = officer.post(f"/api/inspections/{sc.inspection_id}/items/{sc.inspection_item_id}/photo",
                     files={"file": ("现场.png", tiny_png(), "image/png")})
    assert r.status_code == 200, r.text


def _inspection_body(sc: Scenario, project_id: int, fail: str | None = None) -> dict:
    return {"project_id": project_id, "inspected_on": "2026-11-23", "inspection_type": "daily",
            "checklist_id": sc.checklist_id,
            "items": [{"item_code": c, "result": "fail" if c == fail else "pass"} for c in sc.checklist_items]}


def _unlink_item(db, sc: Scenario) -> None:
    from cases.models import InspectionItem

    with db.transaction() as s:
        s.get(InspectionItem, sc.inspection_item_id).case_id = None


def add_campaign(db, clock, world) -> int:
    from datetime import date
    from cases.models.inspections import Campaign, CampaignRound

    with db.transaction() as s:
        c = Campaign(name="权限矩阵专项行动", jurisdiction_code="320500", starts_on=date(2026, 11, 1),
                     ends_on=date(2026, 12, 31), scope_codes=["320508"], project_kinds=[], coverage_target=100,
                     description="", status="active", created_by_id=world.supervisor.id, created_at=clock.now())
        s.add(c)
        s.flush()
        s.add(CampaignRound(campaign_id=c.id, round_no=1, name="第一轮", starts_on=date(2026, 11, 1),
                            due_on=date(2026, 12, 31)))
        return c.id


# Path parameters by name, then by route where one name means different things.
PATH_IDS: dict[str, Callable[[Scenario, Any], Any]] = {
    "flag_id": lambda sc, w: 2**31 - 1,  # no flag in the scenario: every staff member gets 404 (tests/test_patterns.py acts on real ones)
    "case_id": lambda sc, w: sc.case["id"],
    "case_id:int": lambda sc, w: sc.case["id"],  # a page path with Starlette's int convertor (/cases/{case_id:int})
    "action": lambda sc, w: "comment",
    "supervision_id": lambda sc, w: sc.supervision_id,
    "doc_id": lambda sc, w: sc.doc_id,
    "message_id": lambda sc, w: sc.inbox_message_id,
    "kind": lambda sc, w: "major_hazard",
    "source": lambda sc, w: "projects",
    "role": lambda sc, w: "officer",
    "name": lambda sc, w: "webhook",
    "enterprise_id": lambda sc, w: w.e1.id,
    "user_id": lambda sc, w: sc.target_user_id,
    "evidence_id": lambda sc, w: sc.evidence_id,
    "inspection_id": lambda sc, w: sc.inspection_id,
    "item_id": lambda sc, w: sc.inspection_item_id,
    "checklist_id": lambda sc, w: sc.checklist_id,
    "complaint_id": lambda sc, w: sc.complaint_id,
    "lookup_code": lambda sc, w: sc.complaint_code,
    "campaign_id": lambda sc, w: sc.campaign_id,
    "firing_id": lambda sc, w: 1,  # a page: every actor is redirected before it is looked up
    "task_id": lambda sc, w: sc.analog_task_id,
    "record_id": lambda sc, w: sc.credit_record_id,
    "interview_id": lambda sc, w: sc.interview_id,
    "commitment_id": lambda sc, w: sc.commitment_id,
    "referral_id": lambda sc, w: sc.referral_id,
    "referral_id:int": lambda sc, w: sc.referral_id,
    "submission_id": lambda sc, w: sc.report_submission_id,
    "submission_id:int": lambda sc, w: sc.report_submission_id,
    "fmt": lambda sc, w: "xlsx",
}
ROUTE_IDS: dict[str, dict[str, Callable[[Scenario, Any], Any]]] = {
    "POST /api/documents/{doc_id}/rerender": {"doc_id": lambda sc, w: sc.failed_doc_id},
    "POST /api/admin/documents/{doc_id}/rerender": {"doc_id": lambda sc, w: sc.failed_doc_id},
    "POST /api/admin/messages/{message_id}/resend": {"message_id": lambda sc, w: sc.failed_message_id},
    "POST /api/cases/{case_id}/complaints/reply": {"case_id": lambda sc, w: sc.complaint_case_id},
    "POST /api/cases/{case_id}/complaints/merge": {"case_id": lambda sc, w: sc.complaint_case_id},
}

_serial = itertools.count(1)


def _unique() -> int:
    return next(_serial)


# Bodies and required query parameters (httpx keyword arguments) by route.
REQUESTS: dict[str, Callable[[Scenario, Any, str], dict[str, Any]]] = {
    "POST /api/auth/token": lambda sc, w, a: {"data": {
        "username": (sc.users[a] or w.officer).username, "password": "secret-pw"}},
    "POST /api/cases": lambda sc, w, a: {"json": {
        "kind": "hazard", "title": "权限矩阵新建", "description": "测试", "location": "平江路1号",
        "source": "inspection", "enterprise_id": w.e1.id, "project_id": w.p1.id, "category": "scaffolding"}},
    "POST /api/cases/{case_id}/actions/{action}": lambda sc, w, a: {"json": {"comment": "权限矩阵备注"}},
    "POST /api/cases/{case_id}/evidence": lambda sc, w, a: {
        "files": {"file": ("现场.png", tiny_png(), "image/png")}, "data": {"purpose": "other"}},
    "POST /api/supervisions/{supervision_id}/extension": lambda sc, w, a: {"json": {"days": 5, "reason": "测试"}},
    "POST /api/supervisions/{supervision_id}/extension/decision": lambda sc, w, a: {"json": {"approved": True}},
    "POST /api/supervisions/{supervision_id}/lift": lambda sc, w, a: {"json": {"opinion": "测试"}},
    "POST /api/analog-tasks/{task_id}/cancel": lambda sc, w, a: {"json": {"reason": "测试：项目已竣工"}},
    "POST /api/repeat-offender-flags/{flag_id}/decision": lambda sc, w, a: {"json": {"decision": "interview", "note": "测试"}},
    "POST /api/enterprise-rankings/publications": lambda sc, w, a: {"json": {"city": "3205"}},
    "GET /api/enterprise-rankings/publications": lambda sc, w, a: {"params": {"city": "3205"}},
    "GET /api/public/enterprise-ranking": lambda sc, w, a: {"params": {"city": "3205"}},
    "GET /public/enterprise-ranking": lambda sc, w, a: {"params": {"city": "3205"}},
    # 南通市: never published in the scenario, so the exports answer 404 whatever ran before
    "GET /public/enterprise-ranking.xlsx": lambda sc, w, a: {"params": {"city": "3206"}},
    "GET /public/enterprise-ranking.csv": lambda sc, w, a: {"params": {"city": "3206"}},
    "POST /analog-tasks/{task_id}/cancel": lambda sc, w, a: {"data": {"reason": "测试"}},
    "POST /api/interviews": lambda sc, w, a: {"json": {
        "case_id": sc.case["id"], "reason": "矩阵约谈提醒", "measure": "reminder", "scheduled_at": "2026-12-01T09:30:00+08:00",
        "place": "姑苏区住建局", "summon_enterprise": True}},
    "POST /api/interviews/{interview_id}/held": lambda sc, w, a: {"json": {
        "held_at": "2026-01-01T09:30:00+08:00", "hosts": "测试", "minutes": "测试",
        "attendees": [{"name": "周", "unit": "测试单位", "position": "经理"}]}},
    "POST /api/interviews/{interview_id}/commitments": lambda sc, w, a: {"json": {"commitments": [
        {"content": "补充承诺", "responsible_person": "周", "within": 5, "unit": "working_day"}]}},
    "POST /api/interview-commitments/{commitment_id}/met": lambda sc, w, a: {"json": {"note": "已提交整改报告"}},
    "POST /interviews/new": lambda sc, w, a: {"data": {"case_id": sc.case["id"]}},
    "GET /api/reports/periodic": lambda sc, w, a: {"params": {"jurisdiction": "320508", "period_kind": "month", "period": "2026-10"}},
    "GET /api/reports/periodic/submissions": lambda sc, w, a: {"params": {"jurisdiction": "320508", "period_kind": "month", "period": "2026-10"}},
    "GET /api/reports/periodic/overview": lambda sc, w, a: {"params": {"jurisdiction": "320508", "period_kind": "month", "period": "2026-10"}},
    "GET /api/reports/periodic/export.xlsx": lambda sc, w, a: {"params": {"jurisdiction": "320508", "period_kind": "month", "period": "2026-10"}},
    "GET /api/reports/periodic/export.pdf": lambda sc, w, a: {"params": {"jurisdiction": "320508", "period_kind": "month", "period": "2026-10"}},
    "POST /api/reports/periodic/submissions": lambda sc, w, a: {"json": {
        "jurisdiction": "320508", "period_kind": "month", "period": "2026-09"}},
    "GET /api/calendar/deadline": lambda sc, w, a: {"params": {"amount": 3, "unit": "working_day"}},
    "POST /api/admin/calendar/years": lambda sc, w, a: {"json": {}},
    "PUT /api/me/notification-preferences": lambda sc, w, a: {"json": {"preferences": []}},
    "POST /api/me/password": lambda sc, w, a: {"json": {"old_password": "secret-pw", "new_password": "secret-pw"}},
    "PUT /api/admin/role-preferences/{role}": lambda sc, w, a: {"json": {"preferences": []}},
    "PUT /api/admin/channels/{name}": lambda sc, w, a: {"json": {"enabled": False, "settings": {}}},
    "POST /api/enterprises": lambda sc, w, a: {"json": {
        "credit_code": make_credit_code(f"91320508MA{_unique():07d}"), "name": f"矩阵企业{_unique()}",
        "jurisdiction_code": "320508"}},
    "POST /api/projects": lambda sc, w, a: {"json": {
        "name": "矩阵项目", "jurisdiction_code": "320508", "address": "平江路9号"}},
    "POST /api/buildings": lambda sc, w, a: {"json": {
        "name": "矩阵房屋", "jurisdiction_code": "320508", "address": "平江路9号", "structure": "砖混"}},
    "POST /api/inspections": lambda sc, w, a: {"json": _inspection_body(sc, w.p1.id)},
    "POST /api/inspections/{inspection_id}/items/{item_id}/photo": lambda sc, w, a: {
        "files": {"file": ("现场.png", tiny_png(), "image/png")}},
    "POST /api/checklists": lambda sc, w, a: {"files": {"file": ("checklist.yaml", (
        "code: matrix\ntitle: 权限矩阵检查表\napplies_to: project\n"
        "items:\n  - {code: M-1, text: 测试项, category: height}\n").encode(), "application/x-yaml")}},
    "POST /api/public/complaints": lambda sc, w, a: {"json": {
        "jurisdiction_code": "320508", "content": "工地脚手架没有安全网", "location": "平江路1号"}},
    "POST /api/complaints/referrals": lambda sc, w, a: {"json": {
        "referral_no": f"GD-MATRIX-{_unique() + 100}", "content": "塔吊夜间作业", "jurisdiction_code": "320508"}},
    "POST /api/cases/{case_id}/complaints/reply": lambda sc, w, a: {"json": {"reply": "经核查，已责令整改。"}},
    # into itself: refused (422) for whoever may merge, so the matrix leaves the case as it was
    "POST /api/cases/{case_id}/complaints/merge": lambda sc, w, a: {"json": {"into_case_id": sc.complaint_case_id}},
    "POST /api/cases/{case_id}/referrals": lambda sc, w, a: {"json": {
        "target": "fire_rescue", "body_name": "苏州市姑苏区消防救援大队"}},
    # empty: refused (422) for whoever may record, so the referral stays open for the next actor
    "POST /api/referrals/{referral_id}/reply": lambda sc, w, a: {"json": {}},
    "POST /api/referrals/{referral_id}/withdraw": lambda sc, w, a: {"json": {}},
    "POST /api/campaigns": lambda sc, w, a: {"json": {
        "name": f"矩阵专项行动{_unique()}", "starts_on": "2026-12-01", "ends_on": "2026-12-31",
        "rounds": [{"due_on": "2026-12-31"}]}},
    "PATCH /api/campaigns/{campaign_id}": lambda sc, w, a: {"json": {"description": f"矩阵修改{_unique()}"}},
    "POST /api/credit-records": lambda sc, w, a: {"json": {"case_id": sc.case["id"], "cause": "refused_stop_work",
                                                           "facts": "权限矩阵：复查时仍在施工"}},
    "POST /api/credit-records/{record_id}/appeal": lambda sc, w, a: {"json": {"reason": "权限矩阵申诉"}},
    "POST /api/credit-records/{record_id}/decision": lambda sc, w, a: {"json": {"outcome": "upheld", "reason": "权限矩阵"}},
    "POST /api/users": lambda sc, w, a: {"json": {
        "username": f"matrix{_unique()}", "display_name": f"矩阵用户{_unique()}", "password": "Matrix-pw-2026!",
        "role": "enterprise", "jurisdiction_code": "320508", "enterprise_id": w.e1.id}},
}


def _fail_document(db, sc: Scenario) -> None:
    with db.transaction() as s:
        doc = s.get(Document, sc.failed_doc_id)
        doc.status, doc.error = "failed", "测试：数据有误"


def _fail_message(db, sc: Scenario) -> None:
    with db.transaction() as s:
        s.get(OutboxMessage, sc.failed_message_id).status = "failed"


# Run before each actor's request, so that every actor meets the same state (a re-send succeeds
# once; the next actor would otherwise meet a pending message and a 409 whatever its rights).
def _activate_target(db, sc: Scenario) -> None:
    with db.transaction() as s:
        s.get(User, sc.target_user_id).active = True


def _forget_complaint_hits(db, sc: Scenario) -> None:
    from cases.models import ComplaintHit

    with db.transaction() as s:
        s.execute(ComplaintHit.__table__.delete())


RESETS: dict[str, Callable[[Any, Scenario], None]] = {
    "POST /api/public/complaints": _forget_complaint_hits,
    "POST /api/users/{user_id}/deactivate": _activate_target,
    "POST /api/users/{user_id}/activate": _activate_target,
    "POST /api/documents/{doc_id}/rerender": _fail_document,
    "POST /api/admin/documents/{doc_id}/rerender": _fail_document,
    "POST /api/admin/messages/{message_id}/resend": _fail_message,
    "POST /api/inspections/{inspection_id}/items/{item_id}/case": lambda db, sc: _unlink_item(db, sc),
}


# Lists: which item of the scenario a list route is checked for ("2+" it is there, "2-" it is not).
LIST_TARGETS: dict[str, Callable[[Scenario, Any], tuple[str, Any]]] = {
    "GET /api/cases": lambda sc, w: ("id", sc.case["id"]),
    "GET /api/queue": lambda sc, w: ("id", sc.case["id"]),
    "GET /api/supervisions": lambda sc, w: ("id", sc.supervision_id),
    "GET /api/cases/{case_id}/messages": lambda sc, w: ("id", sc.staff_message_id),
    "GET /api/inbox": lambda sc, w: ("id", sc.inbox_message_id),
    "GET /api/jurisdictions": lambda sc, w: ("code", "320508"),
    "GET /api/enterprises": lambda sc, w: ("id", w.e1.id),
    "GET /api/projects": lambda sc, w: ("id", w.p1.id),
    "GET /api/buildings": lambda sc, w: ("id", w.b1.id),
    "GET /api/users": lambda sc, w: ("id", w.officer.id),
    "GET /api/inspections": lambda sc, w: ("id", sc.inspection_id),
    "GET /api/complaints": lambda sc, w: ("id", sc.complaint_id),
    "GET /api/campaigns": lambda sc, w: ("id", sc.campaign_id),
    "GET /api/analog-tasks": lambda sc, w: ("id", sc.analog_task_id),
    "GET /api/interviews": lambda sc, w: ("id", sc.interview_id),
    "GET /api/referrals": lambda sc, w: ("id", sc.referral_id),
}


def _lists(response: httpx.Response, key: str, value: Any) -> bool:
    return any(item.get(key) == value for item in response.json()["items"])


# Routes that end or replace the caller's session: each request goes out on a token of its own, and
# the actor's client is logged in again afterwards (its other tokens may have been revoked).
OWN_SESSION_ROUTES = {"POST /api/auth/logout", "POST /api/me/password"}


def _matches(token: str, status: int) -> bool:
    if token in ("2+", "2-"):
        return 200 <= status < 300
    if token == "2":
        return 200 <= status < 300
    if token == "3":
        return 300 <= status < 400
    if token == "ok":
        return 200 <= status < 300 or status in (409, 422)
    return status == int(token)


def test_every_route_role_and_jurisdiction(api, db, world, scenario, live_server):
    sc = scenario
    clients = {a: api(u) for a, u in sc.users.items()}
    mismatches = []
    for route in app_routes(live_server.server.config.app):
        if route not in ROUTES:
            continue  # reported by test_every_route_has_a_declared_policy
        method, path = route.split(" ", 1)
        ids = {**PATH_IDS, **ROUTE_IDS.get(route, {})}
        url = path
        for name, make in ids.items():
            url = url.replace("{" + name + "}", str(make(sc, world)))
        assert "{" not in url, f"{route}: unknown path parameter, add it to PATH_IDS"
        for actor, token in expectations(route).items():
            kwargs = REQUESTS[route](sc, world, actor) if route in REQUESTS else {}
            if route in RESETS:
                RESETS[route](db, sc)
            client = api(sc.users[actor]) if route in OWN_SESSION_ROUTES else clients[actor]
            r: httpx.Response = client.http.request(method, url, follow_redirects=False, **kwargs)
            if route in OWN_SESSION_ROUTES:
                clients[actor] = api(sc.users[actor])
            if not _matches(token, r.status_code) or r.status_code >= 500:
                mismatches.append(f"{route} as {actor}: expected {token}, got {r.status_code} {r.text[:160]}")
            elif token in ("2+", "2-") and _lists(r, *LIST_TARGETS[route](sc, world)) != (token == "2+"):
                key, value = LIST_TARGETS[route](sc, world)
                mismatches.append(f"{route} as {actor}: expected {token}: the item with {key}={value} "
                                  f"{'missing' if token == '2+' else 'listed'}")
    assert not mismatches, "\n" + "\n".join(mismatches)
