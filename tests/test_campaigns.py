"""Campaigns (专项整治, cases/campaigns/) over real HTTP on both databases: validation in Chinese,
visibility along the jurisdiction tree, every coverage figure equal to the list it links to, the
ledger's campaign filter and export column, and the round clock firing once through the sweep's
plain path (workflows/passes.py). Inspections are inserted with the ORM (their service is another
package's)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import func, select, update

from cases.models import Case, OutboxMessage, Project, User
from cases.models.inspections import Campaign, CampaignRoundFiring, Inspection
from cases.platform import db as db_module

ROUNDS = [{"name": "第一轮", "starts_on": "2026-11-01", "due_on": "2026-11-30"},
          {"name": "第二轮", "starts_on": "2026-12-01", "due_on": "2026-12-31"}]


def campaign_body(**over) -> dict:
    return {"name": "2轮全覆盖精准排查", "starts_on": "2026-11-01", "ends_on": "2026-12-31", "rounds": ROUNDS,
            "scope_codes": ["320508", "320506"], "coverage_target": 100, **over}


def create(client, **over) -> dict:
    r = client.post("/api/campaigns", json=campaign_body(**over))
    assert r.status_code == 201, r.text
    return r.json()


def add_project(db, clock, name: str, code: str, **kw) -> int:
    with db.transaction() as s:
        p = Project(name=name, jurisdiction_code=code, address="测试路1号", created_at=clock.now(), **kw)
        s.add(p)
        s.flush()
        return p.id


def inspect(db, clock, project_id: int, code: str, campaign_id: int | None, round_no: int | None,
            on: date = date(2026, 11, 24), by: User | None = None) -> int:
    with db.transaction() as s:
        i = Inspection(jurisdiction_code=code, project_id=project_id, inspected_on=on, inspection_type="special",
                       campaign_id=campaign_id, round_no=round_no, created_by_id=by.id if by else 1,
                       created_at=clock.now(), inspectors=[], document={})
        s.add(i)
        s.flush()
        return i.id


def tag(db, case_id: int, campaign_id: int) -> None:
    """What the inspections service does for a case made from an item of a campaign inspection."""
    with db.transaction() as s:
        s.execute(update(Case).where(Case.id == case_id).values(campaign_id=campaign_id))


def _hazard(officer, world, *, project=None, title="临边防护缺失", **register) -> dict:
    case = officer.post("/api/cases", json={"kind": "hazard", "title": title, "project_id": (project or world.p1).id}).json()
    r = officer.act(case, "register", enterprise_id=world.e1.id if project is None else world.e2.id,
                    severity="general", requirements="立即整改", **register)
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- validation and visibility


def test_validation_names_each_field_in_chinese(api, world):
    city = api(world.supervisor)
    bad = city.post("/api/campaigns", json=campaign_body(
        starts_on="2026-12-01", ends_on="2026-11-01", coverage_target=0, scope_codes=["320102"],
        rounds=[{"name": "第一轮", "starts_on": "2026-11-01", "due_on": "2027-01-15"},
                {"name": "第二轮", "starts_on": "2026-11-20", "due_on": "2026-11-25"}]))
    assert bad.status_code == 422, bad.text
    errors = bad.json()["errors"]
    text = "；".join(f"{e['label']}：{e['message']}" for e in errors)
    assert "结束日期：不能早于开始日期（2026-12-01）" in text
    assert "覆盖率目标（%）：应为1至100之间的整数" in text
    assert "整治范围：“320102”不在组织单位的管辖范围内" in text
    assert "完成时限：第1轮：不能晚于专项行动结束日期（2026-11-01）" in text
    assert "轮次开始日期：第2轮：应晚于第1轮的完成时限（2027-01-15）" in text
    no_rounds = city.post("/api/campaigns", json=campaign_body(rounds=[]))
    assert no_rounds.status_code == 422 and no_rounds.json()["errors"][0]["label"] == "轮次"
    kinds = city.post("/api/campaigns", json=campaign_body(project_kinds=["bridge"]))
    assert kinds.status_code == 422 and "工程类别" in kinds.text
    missing = city.post("/api/campaigns", json={"name": "缺少日期"})
    assert missing.status_code == 422 and "开始日期" in missing.text
    # only a city or province organises: a county officer may not
    refused = api(world.officer).post("/api/campaigns", json=campaign_body())
    assert refused.status_code == 403 and "市级或省级" in refused.json()["message"]


def test_a_citys_campaign_is_read_by_its_districts_in_scope_and_edited_only_above(api, world):
    city, gusu, wuzhong = api(world.supervisor), api(world.officer), api(world.officer_wz)
    c = create(city, name="姑苏专项", scope_codes=["320508"])
    assert c["organiser"] == "苏州市住房和城乡建设局" and [r["round_no"] for r in c["rounds"]] == [1, 2]
    assert c["editable"] is True
    seen = gusu.get(f"/api/campaigns/{c['id']}")
    assert seen.status_code == 200 and seen.json()["editable"] is False
    assert c["id"] in [x["id"] for x in gusu.get("/api/campaigns").json()["items"]]
    # 吴中区 is not in scope: the campaign does not exist for it
    assert wuzhong.get(f"/api/campaigns/{c['id']}").status_code == 404
    assert c["id"] not in [x["id"] for x in wuzhong.get("/api/campaigns").json()["items"]]
    # a district cannot edit it; the city and the province can
    assert gusu.http.patch(f"/api/campaigns/{c['id']}", json={"coverage_target": 80}).status_code == 403
    r = api(world.province).http.patch(f"/api/campaigns/{c['id']}", json={"coverage_target": 80, "status": "ended"})
    assert r.status_code == 200 and r.json()["coverage_target"] == 80 and r.json()["status_label"] == "已结束"
    bad = city.http.patch(f"/api/campaigns/{c['id']}", json={"rounds": [{"due_on": "2027-02-01"}]})
    assert bad.status_code == 422 and "不能晚于专项行动结束日期" in bad.text
    # an enterprise contact reads no campaign
    assert api(world.contact).get("/api/campaigns").status_code == 403
    # the whole city: both districts read it
    every = create(city, name="全市专项", scope_codes=[])
    assert wuzhong.get(f"/api/campaigns/{every['id']}").status_code == 200


def test_a_round_with_inspections_is_kept(api, world, db, clock):
    city = api(world.supervisor)
    c = create(city)
    inspect(db, clock, world.p1.id, "320508", c["id"], 2, by=world.officer)
    r = city.http.patch(f"/api/campaigns/{c['id']}", json={"rounds": ROUNDS[:1]})
    assert r.status_code == 422 and "已有检查记录的轮次不能删除" in r.text
    r = city.http.patch(f"/api/campaigns/{c['id']}", json={"rounds": [{**ROUNDS[0], "name": "第一轮（全覆盖）"}, ROUNDS[1]]})
    assert r.status_code == 200 and r.json()["rounds"][0]["name"] == "第一轮（全覆盖）"


# ---------------------------------------------------------------- coverage = its lists


def _total(client, href: str) -> int:
    parts = urlsplit(href)
    params = dict(parse_qsl(parts.query))
    if parts.path == "/ledger":
        r = client.get("/api/cases", params={**params, "page_size": 1})
    else:
        campaign_id = parts.path.split("/")[2]
        r = client.get(f"/api/campaigns/{campaign_id}/projects", params=params)
    assert r.status_code == 200, (href, r.text)
    return r.json()["total"]


def _world(api, world, db, clock) -> dict:
    """姑苏区: p1 (building) inspected in round 1, p3 (municipal) never, p4 completed (out of scope);
    吴中区: p2 inspected in round 2 only. Cases in round 1: a hazard rectified on time and a major
    hazard (姑苏, tagged), an untagged hazard (姑苏), a tagged hazard in 吴中."""
    city, officer, wz, contact = api(world.supervisor), api(world.officer), api(world.officer_wz), api(world.contact)
    c = create(city)
    p3 = add_project(db, clock, "姑苏市政道路", "320508", project_kind="municipal")
    add_project(db, clock, "姑苏已竣工项目", "320508", status="completed")
    inspect(db, clock, world.p1.id, "320508", c["id"], 1, by=world.officer)
    inspect(db, clock, world.p1.id, "320508", c["id"], 1, on=date(2026, 11, 25), by=world.officer)  # twice: one project
    inspect(db, clock, world.p2.id, "320506", c["id"], 2, on=date(2026, 12, 2), by=world.officer_wz)
    inspect(db, clock, p3, "320508", None, None, by=world.officer)  # not a campaign inspection
    on_time = officer.act(_hazard(officer, world, title="按期整改", rectification_days=3), "start_rectification").json()
    assert contact.act(on_time, "report_completion", completion_report="已整改").status_code == 200
    major = officer.post("/api/cases", json={"kind": "major_hazard", "title": "连墙件整层缺失", "project_id": world.p1.id}).json()
    untagged = _hazard(officer, world, title="日常检查发现")
    wz_case = _hazard(wz, world, project=world.p2, title="吴中临边")
    for case in (on_time, major, wz_case):
        tag(db, case["id"], c["id"])
    return {"campaign": c, "p3": p3, "untagged": untagged, "major": major}


def test_every_coverage_figure_equals_the_list_it_links_to(api, world, db, clock):
    w = _world(api, world, db, clock)
    c = w["campaign"]
    city = api(world.supervisor)
    rows = {}
    for round_no in (1, 2):
        r = city.get(f"/api/campaigns/{c['id']}/coverage", params={"round": round_no})
        assert r.status_code == 200, r.text
        for row in r.json()["districts"]:
            rows[(row["code"], round_no)] = row
            for figure, href in row["links"].items():
                assert _total(city, href) == row[figure], (row["code"], round_no, figure, href)
    assert {code for code, _ in rows} == {"320508", "320506"}
    gusu1, gusu2, wz1, wz2 = rows[("320508", 1)], rows[("320508", 2)], rows[("320506", 1)], rows[("320506", 2)]
    assert (gusu1["in_scope"], gusu1["inspected"], gusu1["pending"]) == (2, 1, 1)
    assert gusu1["coverage_percent"] == 50.0 and gusu1["covered"] is False
    assert (gusu1["hazards"], gusu1["major_hazards"], gusu1["rectified_on_time"]) == (2, 1, 1)
    assert (gusu2["inspected"], gusu2["hazards"]) == (0, 0)
    assert (wz1["in_scope"], wz1["inspected"], wz1["hazards"], wz1["major_hazards"]) == (1, 0, 1, 0)
    assert (wz2["inspected"], wz2["covered"]) == (1, True)
    # the lists themselves: the pending project is the municipal one, with the link to record it
    pending = city.get(f"/api/campaigns/{c['id']}/projects", params={"round": 1, "district": "320508", "status": "pending"})
    assert [p["id"] for p in pending.json()["items"]] == [w["p3"]]
    # a district reads its own row only; its lists stay inside it
    own = api(world.officer).get(f"/api/campaigns/{c['id']}/coverage", params={"round": 1}).json()
    assert [x["code"] for x in own["districts"]] == ["320508"]
    other = api(world.officer).get(f"/api/campaigns/{c['id']}/projects", params={"round": 1, "district": "320506"})
    assert other.status_code == 422 and other.json()["errors"][0]["label"] == "区县"
    assert city.get(f"/api/campaigns/{c['id']}/coverage", params={"round": 3}).status_code == 422


def test_project_kinds_narrow_the_scope(api, world, db, clock):
    from cases.campaigns.coverage import project_in_scope

    road = add_project(db, clock, "姑苏市政道路", "320508", project_kind="municipal")
    c = create(api(world.supervisor), project_kinds=["building"], scope_codes=["320508"])
    row = next(x for x in api(world.supervisor).get(f"/api/campaigns/{c['id']}/coverage").json()["districts"]
               if x["code"] == "320508")
    assert row["in_scope"] == 1
    with db.session() as s:  # the check the inspections service makes of a campaign inspection
        campaign = s.get(Campaign, c["id"])
        assert project_in_scope(s, campaign, s.get(Project, world.p1.id))
        assert not project_in_scope(s, campaign, s.get(Project, road))  # another kind
        assert not project_in_scope(s, campaign, s.get(Project, world.p2.id))  # another district


def test_the_ledger_filters_by_campaign_and_exports_it(api, world, db, clock):
    w = _world(api, world, db, clock)
    c = w["campaign"]
    city = api(world.supervisor)
    listed = city.get("/api/cases", params={"campaign_id": c["id"], "page_size": 50}).json()
    assert listed["total"] == 3 and w["untagged"]["id"] not in [x["id"] for x in listed["items"]]
    bad = city.get("/api/cases", params={"campaign_id": "abc"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["label"] == "专项行动"
    r = city.get("/api/cases/export.csv", params={"campaign_id": c["id"]})
    assert r.status_code == 200
    table = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    column = table[0].index("专项行动")
    assert len(table) == 4 and {row[column] for row in table[1:]} == {"2轮全覆盖精准排查"}
    everything = list(csv.reader(io.StringIO(city.get("/api/cases/export.csv").text.lstrip("\ufeff"))))
    assert sorted(row[column] for row in everything[1:]) == ["", "2轮全覆盖精准排查", "2轮全覆盖精准排查", "2轮全覆盖精准排查"]


# ---------------------------------------------------------------- the round clock


@pytest.fixture
def app_db(db):
    """The sweep's plain path takes the app database from get_database(): point it at the test's."""
    previous = db_module._db
    db_module.set_database(db)
    yield db
    db_module.set_database(previous)


def _firings(db) -> list[tuple[str, str, bool, str | None]]:
    with db.session() as s:
        return [(f.jurisdiction_code, f.rung, f.coverage["sent"], f.document_number) for f in s.scalars(
            select(CampaignRoundFiring).order_by(CampaignRoundFiring.jurisdiction_code, CampaignRoundFiring.rung))]


def _messages(db, template: str) -> list[OutboxMessage]:
    with db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.template == template).order_by(OutboxMessage.id)))
        s.expunge_all()
        return rows


def test_the_round_clock_fires_once_through_the_sweep(api, world, app_db, clock):
    from workflows.loop import campaign_rounds_due
    from workflows.passes import sweep_plainly

    db = app_db
    c = create(api(world.supervisor), rounds=ROUNDS[:1], ends_on="2026-11-30")
    inspect(db, clock, world.p1.id, "320508", c["id"], 1, by=world.officer)  # 姑苏 covered, 吴中 not
    assert not campaign_rounds_due(clock.now())
    # 3 working days before Mon 30 Nov: Wed 25 Nov 09:00 Beijing
    clock.set(datetime(2026, 11, 25, 0, 59, tzinfo=timezone.utc))
    assert not campaign_rounds_due(clock.now()) and _firings(db) == []
    clock.set(datetime(2026, 11, 25, 1, 0, tzinfo=timezone.utc))
    assert campaign_rounds_due(clock.now())
    totals = sweep_plainly("test-worker")
    assert totals["campaign_rounds"] == {"sent": 1, "checked": 1, "duplicate": 0}
    assert _firings(db) == [("320506", "reminder", True, None), ("320508", "reminder", False, None)]
    assert not campaign_rounds_due(clock.now())
    reminders = _messages(db, "campaign_round_reminder")
    assert {m.recipient_user_id for m in reminders} == {world.officer_wz.id}
    assert "尚有1个未检查" in reminders[0].variables["reminder_text"]
    # the due instant: 24:00 of 30 Nov; the sweep runs twice
    clock.set(datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc))
    sweep_plainly("test-worker")
    sweep_plainly("test-worker")
    fired = _firings(db)
    assert [f for f in fired if f[1] == "supervision_letter"] == [
        ("320506", "supervision_letter", True, "苏州建质督函〔2026〕1号"), ("320508", "supervision_letter", False, None)]
    letters = _messages(db, "campaign_supervision_letter")
    assert {m.recipient_user_id for m in letters} == {world.officer_wz.id}
    assert len({m.dedupe_key for m in letters}) == len(letters) == len(_messages(db, "campaign_supervision_letter"))
    assert letters[0].document_no == "苏州建质督函〔2026〕1号"


def test_a_cancelled_campaign_and_a_covered_round_fire_nothing(api, world, app_db, clock):
    from cases.campaigns.clock import fire_all_due_rounds

    db = app_db
    city = api(world.supervisor)
    cancelled = create(city, rounds=ROUNDS[:1], ends_on="2026-11-30")
    assert city.http.patch(f"/api/campaigns/{cancelled['id']}", json={"status": "cancelled"}).status_code == 200
    covered = create(city, rounds=ROUNDS[:1], ends_on="2026-11-30", scope_codes=["320508"])
    inspect(db, clock, world.p1.id, "320508", covered["id"], 1, by=world.officer)
    clock.set(datetime(2026, 12, 1, 1, 0, tzinfo=timezone.utc))
    assert fire_all_due_rounds(db, clock.now()) == {"sent": 0, "checked": 2, "duplicate": 0}
    assert fire_all_due_rounds(db, clock.now()) == {"sent": 0, "checked": 0, "duplicate": 0}
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        rows = s.scalars(select(CampaignRoundFiring)).all()
        assert {r.coverage["reason"] for r in rows} == {"已达到覆盖率目标"}
        assert s.get(Campaign, cancelled["id"]).status == "cancelled"


def test_a_round_already_past_when_the_campaign_is_created_sends_nothing(api, world, app_db, clock):
    from cases.campaigns.clock import fire_all_due_rounds

    clock.set(datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))
    create(api(world.supervisor), rounds=ROUNDS[:1], ends_on="2026-12-31")
    assert fire_all_due_rounds(app_db, clock.now())["sent"] == 0
