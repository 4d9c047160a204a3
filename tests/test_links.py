"""Links in messages use the configured public base URL (ANJIAN_BASE_URL) and open something that
exists; the case messages and the daily digest make them with the same function."""
from __future__ import annotations

import httpx

from cases.platform.config import Settings
from notifications.rendering import variables as links
from tests.machine_paths import HttpDriver
from workflows import flows


def test_case_links_open_the_case_and_follow_the_configured_base_url(api, db, world, clock, live_server, monkeypatch):
    drv = HttpDriver(api, world, clock)
    case = drv.create("hazard")
    public = Settings(base_url="https://anjian.example.gov.cn/")
    assert links.case_url(case["id"], public) == f"https://anjian.example.gov.cn/cases/{case['id']}"
    monkeypatch.setenv("ANJIAN_BASE_URL", "https://aj.zjj.suzhou.gov.cn")
    assert links.case_url(case["id"], Settings()).startswith("https://aj.zjj.suzhou.gov.cn/cases/")
    # The link opens the case page (served on the live server's base): a person without a session is
    # asked to log in and comes back to it; with one, the page shows the case.
    url = links.case_url(case["id"], Settings(base_url=live_server.url))
    anonymous = httpx.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/login?next=%2Fcases%2F{case['id']}"
    r = _page_session(live_server, world.officer, clock).get(url)
    assert r.status_code == 200 and case["number"] in r.text
    # The digest links the same way.
    from cases.models import User

    with db.session() as s:
        sup = s.get(User, world.supervisor.id)
        v = flows.digest_variables(s, sup, clock.now(), url=live_server.url)
    assert v["dashboard_url"] == links.dashboard_url("320500", base=live_server.url)
    cockpit = _page_session(live_server, world.supervisor, clock).get(v["dashboard_url"])
    assert cockpit.status_code == 200 and "督办驾驶舱" in cockpit.text


def _page_session(live_server, user, clock) -> httpx.Client:
    from datetime import timedelta

    from cases.platform.security import issue_token

    client = httpx.Client(timeout=30)
    client.cookies.set("anjian_session", issue_token(user.id, live_server.signing_key, clock.now(), timedelta(hours=1)),
                       domain="127.0.0.1")
    return client
