"""An open clock follows the policy version it was opened under (deadlines.policy_version), not
the latest: when a province publishes a version that changes a rule, the clocks already running
keep their rule and their ladder; only the clocks opened after it take the new one."""
from __future__ import annotations

import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from cases.clocks import deadlines as dl
from cases.models import Deadline, Timer
from state_machines.policies import POLICY_DIR, latest_version, load_policy
from tests.machine_paths import HttpDriver


@pytest.fixture
def newer_policy(tmp_path, monkeypatch):
    """The shipped versions plus one more that changes the hazard's 整改期限: met only on 复查通过
    (not on the unit's report), and listing 10 working days after due (not 5)."""
    for p in POLICY_DIR.glob("*-v*.yaml"):
        shutil.copy(p, tmp_path / p.name)
    n = latest_version() + 1
    (tmp_path / f"deadlines-v{n}.yaml").write_text(
        f"version: {n}\nextends: {n - 1}\nkinds: {{hazard: {{rectification: {{met_on: [verify]}}}}}}\n", encoding="utf-8")
    ladder = [r for r in load_policy().ladders["rectification"]]
    rungs = ", ".join(
        f"{{rung: {r.rung}, label: {r.label}, at: {{after_due: 10, unit: working_day}}, effects: [{', '.join(r.effects)}]}}"
        if r.rung == "listing" else
        f"{{rung: {r.rung}, label: {r.label}, at: {dict(r.at)!r}, effects: [{', '.join(r.effects)}]}}".replace("'", "")
        for r in ladder)
    (tmp_path / f"escalation-v{n}.yaml").write_text(
        f"version: {n}\nextends: {n - 1}\nladders:\n  rectification: [{rungs}]\n", encoding="utf-8")
    newer = load_policy(directory=tmp_path)
    assert newer.version == n and newer.rule("hazard", "rectification").met_on == ("verify",)

    def publish():
        monkeypatch.setattr(dl, "default_policy", lambda: newer)
        monkeypatch.setattr(dl, "load_policy", lambda v=None: load_policy(v, directory=tmp_path))
        dl.policy_version.cache_clear()
        dl._clock_actions.cache_clear()

    yield publish
    dl.policy_version.cache_clear()
    dl._clock_actions.cache_clear()


def _rect(db, case_id):
    with db.session() as s:
        d = s.scalars(select(Deadline).where(Deadline.case_id == case_id, Deadline.key == "rectification")
                      .order_by(Deadline.id)).all()[-1]
        listing = s.scalars(select(Timer.fire_at).where(Timer.deadline_id == d.id, Timer.rung == "listing")).one_or_none()
        return d.policy_version, d.status, d.due_at, listing


def test_a_running_clock_keeps_its_version_when_a_newer_one_changes_the_rule(api, world, clock, db, newer_policy):
    drv = HttpDriver(api, world, clock)
    before = drv.create("hazard")
    before = drv.act(before, "register", severity="general", rectification_days=7)
    current = latest_version()

    newer_policy()  # the province publishes the next version
    clock.advance(timedelta(minutes=1))
    after = drv.create("hazard")
    after = drv.act(after, "register", severity="general", rectification_days=7)

    # The running clock is extended after the new version: its timers are planned again — under
    # its own ladder (listing 5 working days after due), not the new one (10).
    before = drv.act(before, "start_rectification", world.contact)
    before = drv.act(before, "request_extension", world.contact, extension_days=5)
    before = drv.act(before, "decide_extension", approved=True, approved_days=5)
    v_before, _, due_before, listing_before = _rect(db, before["id"])
    v_after, _, due_after, listing_after = _rect(db, after["id"])
    assert (v_before, v_after) == (current, current + 1)
    assert timedelta(days=5) <= listing_before - due_before <= timedelta(days=9)
    assert timedelta(days=12) <= listing_after - due_after <= timedelta(days=16)

    after = drv.act(after, "start_rectification", world.contact)
    for case in (before, after):
        drv.act(case, "report_completion", world.contact, completion_report="已整改")
    # The unit's report meets the old clock (its rule), not the new one (met only on 复查通过).
    assert _rect(db, before["id"])[1] == "met"
    assert _rect(db, after["id"])[1] == "open"
