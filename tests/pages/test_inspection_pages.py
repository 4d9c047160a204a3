"""The inspection pages with real sessions (httpx) and one story in Chromium on a phone (375 px):
list, the form without JavaScript (pre-filled from the query, errors by field, photos), the page of one
inspection with 转为隐患/转为重大隐患, the case page's link back, the checklist admin page."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.inspections.checklists import latest_versions, sync_shipped
from cases.models import AnalogTask, Case, Inspection, InspectionItem
from tests.conftest import complete_project
from tests.evidence_files import tiny_png
from tests.pages.conftest import csrf, post_form

SHOTS = Path(os.environ["INSPECTION_SHOTS"]) if os.environ.get("INSPECTION_SHOTS") else None  # to look at them


@pytest.fixture
def checklists(db, clock):
    with db.transaction() as s:
        sync_shipped(s, clock.now())
        return {c.code: {"id": c.id, "items": [it["code"] for it in c.items]} for c in latest_versions(s)}


def _form(chk: dict, project: str, fail: str | None = None, **extra) -> dict:
    data = {"checklist_id": str(chk["id"]), "project": project, "inspected_on": "2026-11-23",
            "inspection_type": "daily", **extra}
    for code in chk["items"]:
        data[f"result_{code}"] = "fail" if code == fail else "pass"
    if fail:
        data[f"note_{fail}"] = "现场发现问题"
    return data


def test_nav_list_and_form_prefill(pages, world, checklists, db, clock):
    officer = pages(world.officer)
    home = officer.get("/")
    assert 'href="/inspections"' in home.text and "检查记录" in home.text
    assert pages(world.contact).get("/").text.count('href="/inspections"') == 0
    r = officer.get("/inspections")
    assert r.status_code == 200 and "没有符合条件的检查记录" in r.text
    with db.transaction() as s:
        src = Case(number="320508-YH-2026-999999", kind="hazard", machine_version=1, state="found",
                   jurisdiction_code="320508", origin_jurisdiction_code="320508", title="来源", description="",
                   location="", created_by_id=world.officer.id, details={}, found_at=clock.now(),
                   created_at=clock.now(), updated_at=clock.now(), version=1, rectification_rounds=0,
                   reopen_count=0, event_seq=1)
        s.add(src)
        s.flush()
        task = AnalogTask(source_case_id=src.id, project_id=world.p1.id, jurisdiction_code="320508", reason="same_category",
                          due_on=clock.now().date(), status="open", created_at=clock.now())
        s.add(task)
        s.flush()
        task_id = task.id
    page = officer.get(f"/inspections/new?project_id={world.p1.id}&analog_task_id={task_id}")
    assert page.status_code == 200
    assert f'name="project" value="{world.p1.id}"' in page.text and "已选：姑苏测试项目" in page.text
    assert f'name="analog_task_id" value="{task_id}"' in page.text and "类比排查任务" in page.text
    for code in checklists["comprehensive"]["items"]:
        assert f'name="result_{code}"' in page.text and f'name="photo_{code}"' in page.text
    # another checklist by the GET form (no JavaScript)
    other = officer.get(f"/inspections/new?checklist_id={checklists['dangerous_works']['id']}&project_id={world.p1.id}")
    assert 'name="result_WD-01"' in other.text and 'name="result_GL-01"' not in other.text
    # a contact cannot record
    assert pages(world.contact).get("/inspections/new").status_code == 403


def test_record_by_form_errors_then_success_with_a_photo(pages, world, checklists, db):
    officer = pages(world.officer)
    chk = checklists["comprehensive"]
    bad = _form(chk, "没有这个项目", inspection_type="")
    del bad[f"result_{chk['items'][2]}"]
    r = post_form(officer, "/inspections/new", "/inspections/new", bad)
    assert r.status_code == 422
    assert "未找到“没有这个项目”" in r.text
    data = _form(chk, "姑苏测试项目", fail="JSJ-02", unannounced="true")
    data["inspection_type"] = ""
    r = post_form(officer, "/inspections/new", "/inspections/new", data)
    assert r.status_code == 422 and "必填" in r.text  # 检查类型
    data["inspection_type"] = "daily"
    del data[f"result_{chk['items'][2]}"]
    r = post_form(officer, "/inspections/new", "/inspections/new", data)
    assert r.status_code == 422 and f'class="check-item invalid" data-item="{chk["items"][2]}"' in r.text
    assert 'name="note_JSJ-02" value="现场发现问题"' in r.text  # what was typed is kept
    data[f"result_{chk['items'][2]}"] = "na"
    r = post_form(officer, "/inspections/new", "/inspections/new", data,
                  files={"photo_JSJ-02": ("连墙件.png", tiny_png(), "image/png")})
    assert r.status_code == 303, r.text[:800]
    inspection_id = int(r.headers["location"].rsplit("/", 1)[1])
    with db.session() as s:
        row = s.get(Inspection, inspection_id)
        assert row.unannounced and row.findings == 1
        items = {i.item_code: i for i in s.scalars(select(InspectionItem).where(InspectionItem.inspection_id == row.id))}
        assert items["JSJ-02"].photo["media_type"] == "image/png" and items[chk["items"][2]].result == "na"
    detail = officer.get(f"/inspections/{inspection_id}")
    assert detail.status_code == 200 and "转为重大隐患" in detail.text and "连墙件按方案设置" in detail.text
    photo = re.search(r'src="(/inspections/\d+/items/\d+/photo\?thumb=true)"', detail.text).group(1)
    assert officer.get(photo).headers["content-type"] == "image/jpeg"
    assert officer.get(f"/inspections/{inspection_id}/document.html").status_code == 200
    listing = officer.get("/inspections?findings=yes")
    assert f'href="/inspections/{inspection_id}"' in listing.text
    assert f'href="/inspections/{inspection_id}"' not in officer.get("/inspections?findings=no").text


def test_failed_item_to_case_from_the_page_and_the_link_back(pages, world, checklists, db, clock):
    complete_project(db, world, clock)
    officer = pages(world.officer)
    r = post_form(officer, "/inspections/new", "/inspections/new", _form(checklists["comprehensive"], str(world.p1.id),
                                                                          fail="GL-04"))
    inspection_url = r.headers["location"]
    page = officer.get(inspection_url)
    action = re.search(r'action="(/inspections/\d+/items/\d+/case)"', page.text).group(1)
    r = officer.post(action, data={"csrf_token": csrf(page.text), "kind": "hazard"})
    assert r.status_code == 303 and r.headers["location"].startswith("/cases/")
    case_page = officer.get(r.headers["location"])
    with db.session() as s:
        number = s.scalar(select(Inspection.number))
    assert case_page.status_code == 200 and number in case_page.text and f'href="{inspection_url}"' in case_page.text
    again = officer.get(inspection_url)
    assert "-YH-" in again.text and 'value="hazard"' not in again.text
    # a photo added afterwards, on the page
    photo_action = re.search(r'action="(/inspections/\d+/items/\d+/photo)"', again.text).group(1)
    r = officer.post(photo_action, data={"csrf_token": csrf(again.text)}, files={"file": ("后补.png", tiny_png(), "image/png")})
    assert r.status_code == 303
    assert "已上传检查项" in officer.get(inspection_url).text
    with db.session() as s:
        assert [i.photo["filename"] for i in s.scalars(select(InspectionItem)) if i.photo] == ["后补.png"]
    # another district's officer: 404 page
    assert pages(world.officer_wz).get(inspection_url).status_code == 404
    # the enterprise contact reads it without buttons
    contact = pages(world.contact).get(inspection_url)
    assert contact.status_code == 200 and "转为隐患" not in contact.text


def test_checklist_admin_page(pages, world, checklists):
    admin = pages(world.admin)
    page = admin.get("/admin/checklists")
    assert page.status_code == 200 and "房屋市政工程安全生产综合检查表" in page.text and 'action="/admin/checklists"' in page.text
    bad = b"code: x\ntitle: t\nitems:\n  - {code: A, text: a, category: nowhere}\n"
    r = admin.post("/admin/checklists", data={"csrf_token": csrf(page.text)}, files={"file": ("x.yaml", bad, "text/yaml")})
    assert r.status_code == 422 and "检查项“A”的隐患类别" in r.text
    good = "code: x\ntitle: 新检查表\nitems:\n  - {code: A, text: 临边防护, category: height}\n".encode()
    r = admin.post("/admin/checklists", data={"csrf_token": csrf(page.text)}, files={"file": ("x.yaml", good, "text/yaml")})
    assert r.status_code == 303
    assert "新检查表" in admin.get("/admin/checklists").text
    officer_view = pages(world.officer).get("/admin/checklists")
    assert officer_view.status_code == 200 and 'action="/admin/checklists"' not in officer_view.text


def test_phone_records_an_inspection_and_turns_a_finding_into_a_case(browser_page, world, checklists, db, clock):
    complete_project(db, world, clock)
    page = browser_page(world.officer, width=375, height=800)
    page.goto(f"/inspections/new?project_id={world.p1.id}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.check("input[name=inspection_type][value=daily]")
    for code in checklists["comprehensive"]["items"]:
        page.check(f"input[name='result_{code}'][value={'fail' if code == 'GL-04' else 'pass'}]")
    page.fill("input[name='note_GL-04']", "未见安全技术交底记录")
    page.set_input_files("input[name='photo_GL-04']", files=[{"name": "交底.png", "mimeType": "image/png",
                                                              "buffer": tiny_png()}])
    if SHOTS:
        page.screenshot(path=str(SHOTS / "inspection-new-phone.png"), full_page=True)
    page.click("button:has-text('保存检查记录')")
    page.wait_for_url(re.compile(r"/inspections/\d+$"))
    assert "发现问题1项" in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    if SHOTS:
        page.screenshot(path=str(SHOTS / "inspection-phone.png"), full_page=True)
    page.click("[data-item='GL-04'] button:has-text('转为隐患')")
    page.wait_for_url(re.compile(r"/cases/\d+$"))
    assert "已由检查记录转为案件" in page.content()
    link = page.locator("a[data-inspection]")
    assert link.count() == 1
    link.click()
    page.wait_for_url(re.compile(r"/inspections/\d+$"))
    assert page.locator("[data-item='GL-04'] a[href^='/cases/']").count() == 1
