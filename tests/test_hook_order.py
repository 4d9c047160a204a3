"""The transition hooks run deadlines first, documents second, whatever module a process imports
first: with cases.clocks.deadlines imported before cases.ledger.services, documents used to run first, and every
整改通知书's preflight then missed the clock the same transition opened (a 422 on register)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("first", ["cases.clocks.deadlines", "cases.clocks.deadline_rules", "cases.issuance.documents", "cases.ledger.services", "api.app",
                                   "cases.analogs.proposals", "cases.credit.causes"])
def test_hooks_run_in_their_declared_order_whatever_is_imported_first(first):
    code = (f"import {first}\nfrom cases.ledger import services\n"
            "print(' '.join(h.__module__ for h in services.TRANSITION_HOOKS))\n"
            "print(' '.join(h.__module__ for h in services.CREATION_HOOKS))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    # 类比排查 after them: it proposes only once the transition's clocks and documents passed their checks;
    # credit records last: a report clock met late is read from the clocks the transition closed
    assert out.stdout.splitlines() == ["cases.clocks.deadline_rules cases.issuance.documents cases.analogs.proposals "
                                       "cases.credit.causes"] * 2
