"""The reshaped light queries (overdue list, counts by light: docs/performance.md "Scale") give exactly
the light of ``light_expression`` — the rule the lists, the case page and the queue use — for every
combination of clocks a case can have, on both databases."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select


from cases.clocks import lights
from cases.models import Case, Deadline

H = timedelta(hours=1)

# name -> (closed?, [(status, affects_light, due offset or None (paused), warn offset or None)])
CASES = {
    "no clock": (False, []),
    "green": (False, [("open", True, 72 * H, 24 * H)]),
    "yellow": (False, [("open", True, 24 * H, -H)]),
    "red": (False, [("open", True, -H, -25 * H)]),
    "paused": (False, [("open", True, None, None)]),
    "paused and red": (False, [("open", True, None, None), ("open", True, -2 * H, -30 * H)]),
    "red, not lighting": (False, [("open", False, -H, -25 * H)]),
    "red but met": (False, [("met", True, -H, -25 * H), ("open", True, 72 * H, 24 * H)]),
    "yellow and green": (False, [("open", True, 96 * H, 48 * H), ("open", True, 24 * H, -H)]),
    "red twice": (False, [("open", True, -5 * H, -30 * H), ("open", True, -2 * H, -30 * H), ("open", True, 9 * H, 2 * H)]),
    "closed with a red clock": (True, [("open", True, -H, -25 * H)]),
    # red without a past warn (cases.reads.light_stats counts them from ix_cases_open_due_first)
    "red, no warn": (False, [("open", True, -H, None)]),
    "red before its warn": (False, [("open", True, -H, 5 * H)]),
    "yellow, no due": (False, [("open", True, None, -H)]),
}


def make_cases(db, world, now, series: str = "9") -> dict[str, int]:
    ids = {}
    with db.transaction() as s:
        for i, (name, (closed, clocks)) in enumerate(CASES.items()):
            c = Case(number=f"320508-YH-2026-{series}{i:05d}", kind="hazard", machine_version=1, state="closed" if closed else "rectifying",
                     jurisdiction_code="320508", origin_jurisdiction_code="320508", title=name, description="", location="",
                     created_by_id=world.officer.id, assignee_id=world.officer.id, details={}, found_at=now,
                     created_at=now, updated_at=now, closed_at=now if closed else None)
            s.add(c)
            s.flush()
            ids[name] = c.id
            for status, lighting, due, warn in clocks:
                s.add(Deadline(case_id=c.id, key="rectification", label="整改期限", ladder="rectification",
                               policy_version=1, affects_light=lighting, start_at=now - 100 * H, amount=7,
                               unit="calendar_day", extensions=[], pauses=[], provisional=False, calendar_version="t",
                               due_at=None if due is None else now + due, warn_at=None if warn is None else now + warn,
                               status=status, created_at=now))
    return ids


def test_light_from_summary_matches_light_expression(db, world, clock):
    now = clock.now()
    ids = make_cases(db, world, now)
    clocks = lights.live_clocks_summary()
    with db.session() as s:
        expected = dict(s.execute(select(Case.id, lights.light_expression(now)).where(Case.id.in_(ids.values()))).all())
        got = dict(s.execute(select(Case.id, lights.light_from_summary(clocks, now))
                             .outerjoin(clocks, clocks.c.case_id == Case.id)
                             .where(Case.id.in_(ids.values()), Case.closed_at.is_(None))).all())
    by_name = {name: got.get(i) for name, i in ids.items()}
    assert by_name == {
        "no clock": "none", "green": "green", "yellow": "yellow", "red": "red", "paused": "green",
        "paused and red": "red", "red, not lighting": "none", "red but met": "green", "yellow and green": "yellow",
        "red twice": "red", "closed with a red clock": None,  # closed cases are not counted at all
        "red, no warn": "red", "red before its warn": "red", "yellow, no due": "yellow",
    }
    assert {i: lt for i, lt in expected.items() if i in got} == got


def test_overdue_clocks_are_the_red_cases_with_their_next_due(db, world, clock):
    now = clock.now()
    ids = make_cases(db, world, now)
    red = lights.overdue_clocks(now)
    with db.session() as s:
        got = dict(s.execute(select(Case.id, red.c.next_due_at).join(red, red.c.case_id == Case.id)
                             .where(Case.id.in_(ids.values()), Case.closed_at.is_(None))).all())
        expected = dict(s.execute(select(Case.id, lights.next_due_expression()).where(
            Case.id.in_(ids.values()), lights.light_expression(now) == "red")).all())
    assert set(got) == {ids["red"], ids["paused and red"], ids["red twice"], ids["red, no warn"], ids["red before its warn"]}
    assert got == expected
    assert got[ids["red twice"]] == now - 5 * H


def test_light_counts_by_index_ranges_equal_the_plain_count(db, world, clock):
    """cases.reads.light_stats (two disjoint index-range parts, FILTER counts) gives the counts of the plain
    shape — visible open cases grouped by the light computed from deadlines — for every kind of user,
    with cases moved up by 提级 (origin ≠ jurisdiction) and a jurisdiction filter."""
    from sqlalchemy import func, update


    from cases.reads import case_lists
    from cases.reads.light_stats import light_count_rows

    now = clock.now()
    ids = make_cases(db, world, now)
    more = make_cases(db, world, now - 30 * H, series="8")  # a second set, then spread over other jurisdictions
    with db.transaction() as s:
        for i, case_id in enumerate(more.values()):
            jc, oc = [("320506", "320506"), ("320500", "320508"), ("320000", "320506"), ("320500", "320506"),
                      ("320508", "320508")][i % 5]
            s.execute(update(Case).where(Case.id == case_id).values(
                jurisdiction_code=jc, origin_jurisdiction_code=oc,
                enterprise_id=world.e1.id if i % 2 else None))
    assert ids
    users = (world.officer, world.officer_wz, world.supervisor, world.province, world.admin, world.contact)
    for user in users:
        for jurisdiction in (None, "320508", "320500"):
            with db.session() as s:
                light = lights.computed_light_expression(now).label("light")
                sub = (case_lists.case_query(user, jurisdiction=jurisdiction).where(Case.closed_at.is_(None))
                       .with_only_columns(Case.jurisdiction_code, Case.kind, light).subquery())
                expected = sorted(tuple(r) for r in s.execute(
                    select(sub.c.jurisdiction_code, sub.c.kind, sub.c.light, func.count())
                    .group_by(sub.c.jurisdiction_code, sub.c.kind, sub.c.light)))
                got = sorted(light_count_rows(s, user, now, jurisdiction=jurisdiction))
            assert got == expected, (user.username, jurisdiction)
    with db.session() as s:  # the moved cases are counted for the county they came from
        assert sum(n for code, *_, n in light_count_rows(s, world.officer_wz, now) if code != "320506") > 0
