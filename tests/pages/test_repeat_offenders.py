"""屡查屡犯 (cases/reads/repeat_offenders.py, patterns-v1.yaml): a unit with 3 重大事故隐患 registered in
180 days is flagged with the Art. 113 proposal and its cases; 2 are not enough."""
from __future__ import annotations

import re
from datetime import timedelta

from tests.pages.test_cockpit import LONG, _major


def test_three_major_hazards_in_180_days_flag_the_unit(pages, api, world, clock):
    officer, sup = api(world.officer), api(world.supervisor)
    first = _major(officer, world, title="连墙件整层缺失")
    clock.advance(timedelta(days=60))
    second = _major(officer, world, title="深基坑未按方案开挖")
    assert sup.get("/api/stats/repeat-offenders").json()["items"] == []  # two: not yet
    clock.advance(timedelta(days=60))
    third = _major(officer, world, title="高支模未验收即浇筑")
    items = sup.get("/api/stats/repeat-offenders").json()["items"]
    [row] = [r for r in items if r["pattern"] == "major_hazards"]
    assert (row["enterprise_id"], row["found"], row["window_days"]) == (world.e1.id, 3, 180)
    assert {c["id"] for c in row["cases"]} == {first["id"], second["id"], third["id"]}
    html = pages(world.supervisor, ttl=LONG).get("/cockpit/repeat-offenders").text
    tr = re.search(rf'<tr data-enterprise="{world.e1.id}" data-pattern="major_hazards">(.*?)</tr>', html, re.S).group(1)
    assert "第一百一十三条" in tr and "180日内3次" in tr and third["number"] in tr
    # 200 days on, the first falls out of the 180-day window; three in a year is not four
    clock.advance(timedelta(days=80))
    assert [r for r in sup.get("/api/stats/repeat-offenders").json()["items"] if r["pattern"] == "major_hazards"] == []
    assert api(world.contact).get("/api/stats/repeat-offenders").status_code == 403
