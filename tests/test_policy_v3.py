"""Policy v3 (deadlines-v3.yaml, escalation-v3.yaml) only adds the 约谈 commitment ladder: every rule
and every ladder of v2 reads the same under v3, so no clock opened under v2 is computed differently."""
from __future__ import annotations

from state_machines.policies import load_policy


def test_v3_adds_the_commitment_ladder_and_changes_nothing_of_v2():
    v2, v3 = load_policy(2), load_policy(3)
    assert v3.version == 3
    assert v3.rules == v2.rules
    assert all(v3.ladders[name] == ladder for name, ladder in v2.ladders.items())
    assert set(v3.ladders) - set(v2.ladders) == {"commitment"}
    assert v3.near_due == v2.near_due and v3.supervision == v2.supervision and v3.letters == v2.letters
    rungs = [r.rung for r in v3.ladders["commitment"]]
    assert rungs[0] == "remind_before" and "overdue" in rungs
