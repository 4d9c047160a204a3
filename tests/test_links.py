"""Links in messages use the configured public base URL (ANJIAN_BASE_URL) and open something that
exists; the case messages and the daily digest make them with the same function."""
from __future__ import annotations

from cases.platform.config import Settings
from notifications import variables as links
from tests.machine_paths import HttpDriver
from workflows import flows


def test_case_links_open_the_case_and_follow_the_configured_base_url(api, db, world, clock, live_server, monkeypatch):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    public = Settings(base_url="https://anjian.example.gov.cn/")
    assert links.case_url(case["id"], public) == f"https://anjian.example.gov.cn/api/cases/{case['id']}"
    monkeypatch.setenv("ANJIAN_BASE_URL", "https://aj.zjj.suzhou.gov.cn")
    assert links.case_url(case["id"], Settings()).startswith("https://aj.zjj.suzhou.gov.cn/api/cases/")
    # The link opens the case (served on the live server's base).
    url = links.case_url(case["id"], Settings(base_url=live_server.url))
    r = api(world.officer).get(url)
    assert r.status_code == 200 and r.json()["id"] == case["id"]
    # The digest links the same way.
    from cases.models import User

    with db.session() as s:
        sup = s.get(User, world.supervisor.id)
        v = flows.digest_variables(s, sup, clock.now(), url=live_server.url)
    assert v["dashboard_url"] == links.dashboard_url("320500", base=live_server.url)
    assert api(world.supervisor).get(v["dashboard_url"]).status_code == 200
