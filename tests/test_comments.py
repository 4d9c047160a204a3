"""A comment is an event (numbered in the log) but not a new version: it never conflicts with an action."""
from __future__ import annotations

from tests.machine_paths import HttpDriver
from tests.test_concurrency import fire_together


def test_an_enterprise_comment_does_not_make_the_officers_form_stale(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "registered")
    seen = drv.get(case)                      # the officer opens the case at version v
    v = seen["version"]
    r = drv.client(world.contact).post(f"/api/cases/{case['id']}/actions/comment",
                                       json={"version": v, "comment": "材料已订购，下周到场"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == v
    # a comment needs no version at all, and an old one is no conflict either
    r = drv.client(world.contact).post(f"/api/cases/{case['id']}/actions/comment", json={"comment": "再补充一句"})
    assert r.status_code == 200, r.text
    r = drv.client(world.supervisor).post(f"/api/cases/{case['id']}/actions/comment",
                                          json={"version": v - 1, "comment": "市局关注"})
    assert r.status_code == 200, r.text
    # the officer acts with the version seen before the comments: accepted
    after = drv.act(seen, "start_rectification")
    assert after["state"] == "rectifying" and after["version"] == v + 1
    events = drv.events(case)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["action"] for e in events[-4:]] == ["comment", "comment", "comment", "start_rectification"]
    # a comment still respects the state, the role and the visibility
    r = drv.client(world.officer_wz).post(f"/api/cases/{case['id']}/actions/comment", json={"comment": "越界"})
    assert r.status_code == 404
    # and an action still needs the version it was taken on
    r = drv.try_act(seen, "report_completion", world.contact)
    assert r.status_code == 409 and r.json()["error"] == "stale_version"


def test_two_comments_at_once_both_land(api, world, clock):
    drv = HttpDriver(api, world, clock)
    case = drv.drive("hazard", "registered")
    before = drv.events(case)
    calls = [lambda c=api(u), i=i: c.post(f"/api/cases/{case['id']}/actions/comment",
                                          json={"version": case["version"], "comment": f"同时备注{i}"})
             for i, u in enumerate((world.officer, world.contact))]
    responses = fire_together(calls)
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    events = drv.events(case)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert sorted(e["comment"] for e in events[len(before):]) == ["同时备注0", "同时备注1"]
    assert drv.get(case)["version"] == case["version"]
