"""The cockpit's open 屡查屡犯 flags and the supervisor's decision form (cases/patterns/): errors
next to the fields with what was typed kept; the trail on the flag's page."""
from __future__ import annotations

from sqlalchemy import select

from cases.models.patterns import RepeatOffenderFlag
from cases.patterns import detect
from tests.pages.conftest import post_form
from tests.pages.test_cockpit import LONG
from tests.test_patterns import _three


def test_the_cockpit_lists_open_flags_and_the_decision_form_keeps_what_was_typed(db, api, pages, world, clock):
    _three(api, world, clock)
    detect.sweep(db, clock.now())
    with db.session() as s:
        flag_id = s.scalars(select(RepeatOffenderFlag.id)).one()
    client = pages(world.supervisor, ttl=LONG)
    html = client.get("/cockpit/repeat-offenders").text
    assert f'id="flag-{flag_id}"' in html and "待处理" in html and "审核处理" in html
    path = f"/cockpit/repeat-offenders/flags/{flag_id}"
    r = post_form(client, path, f"{path}/decide", {"decision": "", "note": "已约谈项目经理"})
    assert r.status_code == 422
    assert "请选择处理措施" in r.text and "已约谈项目经理" in r.text
    r = post_form(client, path, f"{path}/decide", {"decision": "interview", "note": "已约谈企业主要负责人"})
    assert r.status_code == 303
    page = client.get(path).text
    assert "约谈企业主要负责人：已约谈企业主要负责人" in page and "已处理" in page
    assert f'id="flag-{flag_id}"' not in client.get("/cockpit/repeat-offenders").text
    # an officer reads it but has no form; a contact gets nothing
    officer_page = pages(world.officer, ttl=LONG).get(path).text
    assert "处理记录" in officer_page and "记录处理决定" not in officer_page
    assert api(world.contact).get(f"/api/repeat-offender-flags/{flag_id}").status_code == 403
