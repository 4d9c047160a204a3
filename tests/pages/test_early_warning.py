"""预警 (cases/reads/early_warning.py): per district, the open cases that turn red and that climb a
measure rung within the next N working days, read from the clocks and the sweep's pending timers;
every figure of /cockpit/early-warning equals its ledger list and GET /api/stats/early-warning."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from html import unescape

from cases.clocks.sweep import fire_all_due
from tests.pages.test_cockpit import LONG, _api_total, _hazard

_FIGURE = re.compile(r'<a href="(/ledger\?[^"]+)" data-figure="(\d+)\|(\w+)">(\d+)</a>')


def _stage(api, world, clock, db):
    """Mon 23 Nov 2026: 姑苏区 a hazard due Thu 26 Nov (3 days) and one due in 15 days; 吴中区 one due
    Thu 26 Nov; one more of 姑苏区 already red (due 20 Nov, registered earlier)."""
    officer, wz = api(world.officer), api(world.officer_wz)
    clock.set(datetime(2026, 11, 16, 2, 0, tzinfo=timezone.utc))
    red = _hazard(officer, world, title="已逾期", rectification_days=3)
    clock.set(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    fire_all_due(db, clock.now())
    soon = _hazard(officer, world, title="本周到期", rectification_days=3)
    later = _hazard(officer, world, title="半月后到期", rectification_days=15)
    wz_soon = _hazard(wz, world, title="吴中本周到期", project=world.p2, rectification_days=3)
    return red, soon, later, wz_soon


def test_every_figure_of_the_early_warning_is_its_list(pages, api, world, clock, db):
    red, soon, later, wz_soon = _stage(api, world, clock, db)
    sup = api(world.supervisor)
    html = pages(world.supervisor, ttl=LONG).get("/cockpit/early-warning?days=5").text
    assert "截至2026年11月30日24时" in html
    figures = {(code, kind): (unescape(href), int(n)) for href, code, kind, n in _FIGURE.findall(html)}
    assert figures[("320508", "red")][1] == 1 and figures[("320506", "red")][1] == 1
    for href, n in figures.values():
        assert _api_total(sup, href) == n, href
    # 姑苏区's red list is the case due this week — not the one already red, not the one due later
    listed = sup.get("/api/cases", params={"jurisdiction": "320508", "red_by": "2026-11-30", "open_only": "true"}).json()
    assert [c["title"] for c in listed["items"]] == ["本周到期"]
    # climbing: the 警示函 rung of the week's clocks falls in the window; the red case's next measure too
    assert figures[("320508", "climbing")][1] >= 1 and figures[("320506", "climbing")][1] == 1
    # the API says the same
    body = sup.get("/api/stats/early-warning", params={"days": 5}).json()
    rows = {r["jurisdiction"]["code"]: r for r in body["rows"]}
    assert (rows["320508"]["turning_red"], rows["320506"]["turning_red"]) == (1, 1)
    assert rows["320508"]["climbing"] == figures[("320508", "climbing")][1]
    assert body["last_day"] == "2026-11-30" and body["total_turning_red"] == 2
    # a longer window takes the case due in 15 days too
    wide = sup.get("/api/stats/early-warning", params={"days": 20}).json()
    assert {r["jurisdiction"]["code"]: r["turning_red"] for r in wide["rows"]}["320508"] == 2


def test_bad_windows_and_who_may_read(pages, api, world, clock, db):
    sup = api(world.supervisor)
    r = sup.get("/api/cases", params={"measure_rung": "listing"})
    assert r.status_code == 422 and "须同时指定" in r.text
    r = sup.get("/api/cases", params={"measure_by": "2026-11-31"})
    assert r.status_code == 422
    r = sup.get("/api/cases", params={"measure_by": "2026-11-30", "measure_rung": "nonsense"})
    assert r.status_code == 422 and "listing" in r.json()["errors"][0]["message"]
    assert api(world.contact).get("/api/stats/early-warning").status_code == 403
    assert sup.get("/api/stats/early-warning", params={"days": 0}).status_code == 422
    assert pages(world.contact).get("/cockpit/early-warning").status_code == 403
    assert api(world.officer_wz).get("/api/stats/early-warning", params={"jurisdiction": "320508"}).status_code == 404
