"""An unannounced inspection in a campaign round finds two problems; both become cases in one step.

Monday 2026-11-23, 苏州市's 建筑施工安全专项整治, round 1: the 姑苏区 officer inspects 姑苏测试项目 四不两直
with the 综合检查表. Two items fail: 连墙件整层缺失 (a criterion of the 2022 catalogue, 7.2) and 安全技术交底
记录缺失. The first becomes a proposed 重大事故隐患 on item 7.2, the second a 一般安全隐患 of category
施工安全管理 — both on the project, the 施工单位 responsible, from 监督检查, tagged with the campaign.
The officer registers the hazard: after the sweep its 整改通知书 is addressed to the 施工单位, names the
inspection day and quotes the 检查记录's 文号. The major hazard registered: the 责令停工通知书 cites item 7.2.
The 检查记录 itself, read back from its PDF, lists both problems with the numbers of their cases. Ten
days on, the hazard not rectified, the sweep's 警示函 reaches the unit as for any hazard.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from cases.inspections.checklists import latest_versions, sync_shipped
from cases.models import Campaign, CampaignRound, Case
from tests.scenarios.conftest import squash


def test_campaign_inspection_finds_a_major_hazard_and_a_hazard(story):
    world, officer = story.world, story.client(story.world.officer)
    with story.db.transaction() as s:
        sync_shipped(s, story.clock.now())
        chk = next(c for c in latest_versions(s) if c.code == "comprehensive")
        chk_id, codes = chk.id, [it["code"] for it in chk.items]
        campaign = Campaign(name="建筑施工安全专项整治", jurisdiction_code="320500", starts_on=date(2026, 11, 1),
                            ends_on=date(2027, 3, 31), scope_codes=[], project_kinds=[], coverage_target=100,
                            description="", status="active", created_by_id=world.supervisor.id,
                            created_at=story.clock.now())
        s.add(campaign)
        s.flush()
        s.add(CampaignRound(campaign_id=campaign.id, round_no=1, name="第一轮全覆盖", starts_on=date(2026, 11, 1),
                            due_on=date(2026, 12, 31)))
        campaign_id = campaign.id
    fails = {"JSJ-02": "3号楼外架12–15层连墙件整层缺失", "GL-04": "未见分部分项工程安全技术交底记录"}
    r = officer.post("/api/inspections", json={
        "project_id": world.p1.id, "inspected_on": "2026-11-23", "inspection_type": "special", "unannounced": True,
        "checklist_id": chk_id, "campaign_id": campaign_id, "round_no": 1, "handling": "当场责令整改",
        "items": [{"item_code": c, "result": "fail" if c in fails else "pass", "note": fails.get(c, "")} for c in codes]})
    assert r.status_code == 201, r.text
    record = r.json()
    items = {i["item_code"]: i for i in record["items"]}

    # One step each: the catalogue item proposes a major hazard; the other is a hazard.
    major = officer.post(f"/api/inspections/{record['id']}/items/{items['JSJ-02']['id']}/case").json()["case"]
    hazard = officer.post(f"/api/inspections/{record['id']}/items/{items['GL-04']['id']}/case").json()["case"]
    assert (major["kind"], hazard["kind"]) == ("major_hazard", "hazard")
    with story.db.session() as s:
        rows = {c.id: c for c in s.scalars(select(Case).where(Case.id.in_([major["id"], hazard["id"]])))}
        assert rows[major["id"]].hazard_item_code == "7.2"
        assert rows[hazard["id"]].details["category"] == "management"
        for c in rows.values():
            assert (c.project_id, c.enterprise_id, c.source, c.campaign_id) == (world.p1.id, world.e1.id, "inspection",
                                                                                 campaign_id)

    # The hazard registered: its 整改通知书 after the sweep.
    case = story.get(hazard)
    story.act(case, "register", fields={"enterprise_id": world.e1.id, "severity": "general",
                                        "requirements": "补齐安全技术交底并组织全员交底"})
    m = story.get(major)
    story.act(m, "register", fields={"enterprise_id": world.e1.id, "hazard_item_code": "7.2",
                                     "stop_work_scope": "partial", "requirements": "3号楼外架停止作业，补设连墙件"})
    story.advance(hours=2)
    [notice] = story.document_rows(hazard, "rectification_notice")
    text = story.text_of(notice)
    assert f"{world.e1.name}：" in text and record["number"] in text and "2026年11月23日" in text
    [stop] = story.document_rows(major, "stop_work_order")
    assert "连墙件" in story.text_of(stop)

    # The 检查记录, read back: both problems with their case numbers.
    pdf = officer.get(f"/api/inspections/{record['id']}/document.pdf")
    assert pdf.status_code == 200
    import io

    import pypdf

    record_text = squash("".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages))
    for needle in (record["number"], "四不两直", "建筑施工安全专项整治（第1轮）", major["number"], hazard["number"],
                   "连墙件整层缺失", "当场责令整改", "受检单位负责人签字"):
        assert squash(needle) in record_text, needle

    # Ten days on the hazard is not rectified: the ladder runs as for any hazard.
    story.advance(days=10, step=timedelta(hours=6))
    assert story.document_rows(hazard, "warning_letter"), "no 警示函 after the missed 整改期限"
    assert "contact" in story.notified(hazard, "warning_letter")
