"""企业排名 (cases/reads/enterprise_ranking.py): units by 责令停工通知书 per project under construction,
and by credit score — the API and /cockpit/enterprises agree, counted from the documents issued."""
from __future__ import annotations

import re

from tests.pages.test_cockpit import LONG, _major


def test_a_unit_with_a_stop_work_order_ranks_by_orders_per_active_project(pages, api, world, clock, db):
    officer = api(world.officer)
    _major(officer, world)  # registered with a stop-work order to e1 (the unit of p1)
    sup = api(world.supervisor)
    body = sup.get("/api/stats/enterprise-ranking", params={"from": "2026-01-01", "to": "2026-12-31"}).json()
    rows = {r["enterprise_id"]: r for r in body["stop_work"]}
    e1 = rows[world.e1.id]
    assert (e1["orders"], e1["active_projects"]) == (1, 1) and e1["ratio"] == 1.0
    assert body["stop_work"][0]["enterprise_id"] == world.e1.id  # the highest ratio first
    assert all(r["orders"] == 0 for r in body["stop_work"][1:])
    # a period before the order: no orders at all
    before = sup.get("/api/stats/enterprise-ranking", params={"from": "2026-01-01", "to": "2026-06-30"}).json()
    assert all(r["orders"] == 0 for r in before["stop_work"])
    html = pages(world.supervisor, ttl=LONG).get("/cockpit/enterprises?from=2026-01-01&to=2026-12-31").text
    row = re.search(rf'<tr data-enterprise="{world.e1.id}">(.*?)</tr>', html, re.S).group(1)
    assert world.e1.name in row and ">1<" in row and "1.00" in row
    assert "信用分（由低到高）" in html
    assert api(world.contact).get("/api/stats/enterprise-ranking").status_code == 403
    assert pages(world.contact).get("/cockpit/enterprises").status_code == 403
