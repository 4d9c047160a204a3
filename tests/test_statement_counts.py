"""SQL statements per action over real HTTP: a structural ceiling, so the transition path stays lean.

Every statement the app's engine sends while one request is served is counted (a
``before_cursor_execute`` listener on the engine; an ``executemany`` counts once — it is one
call — and BEGIN/COMMIT/ROLLBACK are not statements here). The live server serves one request at
a time in these tests, so what is counted between the request and its answer is that request's:
the user check, the transition, its hooks (deadlines, timers, documents, messages) and the case
page it answers with. Figures and their history: docs/performance.md "Transitions".

``ANJIAN_DUMP_STATEMENTS=1`` prints every statement of every counted request (to find the round
trips that need not be there).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from cases.issuance import derive
from tests.conftest import complete_project
from tests.machine_paths import HttpDriver

# Ceilings per request (both databases). Lower them when the path gets leaner; never raise
# one without saying why in docs/performance.md.
CEILINGS = {
    "create": 9,
    # The documents (文号, snapshot, recipients, messages) are derived after commit (cases/issuance/derive.py,
    # counted apart); the request keeps the preflight of the facts they need and marks the event.
    # register: user; case FOR UPDATE (+ whether it has supervisions, related units); enterprise +
    # assignee + project with parties in one read; case UPDATE; open deadlines; deadline INSERT;
    # timers INSERT; event INSERT (final payload, derive_due) — the answer reads nothing more.
    "register": 8,              # opens the rectification deadline and its timers; 整改通知书 due
    "start_rectification": 6,
    "report_completion": 10,    # rectification deadline met, re-inspection deadline opened
    "verify": 8,                # 复查意见书 due; re-inspection deadline met
    "close": 8,                 # 销号确认书 due; 回头看 opened
}


class Counter:
    def __init__(self, engine) -> None:
        self.engine = engine
        self.statements: list[str] = []
        self.parameters: list = []
        self.derived: list[str] = []
        self.checkouts = 0
        self.on = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        # SQLite's BEGIN / BEGIN IMMEDIATE go through the cursor; PostgreSQL's through the driver.
        # Neither is counted, so the two databases compare.
        if self.on and not statement.lstrip().upper().startswith("BEGIN"):
            if derive.deriving.get():  # the documents derived after the commit: not the request's
                self.derived.append(statement)
                return
            self.statements.append(statement)
            self.parameters.append(parameters)

    def checkout(self, *_args) -> None:
        """A connection taken from the pool (the derivation after the commit is not the request's)."""
        if self.on and not derive.deriving.get():
            self.checkouts += 1

    @contextmanager
    def counting(self):
        self.statements = []
        self.parameters = []
        self.derived = []
        self.checkouts = 0
        self.on = True
        try:
            yield self
        finally:
            self.on = False


@pytest.fixture
def counter(live_server, database):
    c = Counter(database.engine)
    event.listen(database.engine, "before_cursor_execute", c)
    event.listen(database.engine, "checkout", c.checkout)
    yield c
    event.remove(database.engine, "checkout", c.checkout)
    event.remove(database.engine, "before_cursor_execute", c)


def _report(name: str, dialect: str, statements: list[tuple[str, object]], derived: list[str] = ()) -> None:
    print(f"\n{dialect:10} {name:22} {len(statements):3} statements (ceiling {CEILINGS[name]}), "
          f"{len(derived)} derived after commit")
    if os.environ.get("ANJIAN_DUMP_STATEMENTS"):
        for i, (s, params) in enumerate(statements, 1):
            print(f"    {i:2}. {' '.join(s.split())[:400]}\n        {str(params)[:300]}")
        for i, s in enumerate(derived, 1):
            print(f"    derived {i:2}. {' '.join(s.split())[:300]}")


def test_statements_per_action_of_a_hazard_walk(api, world, clock, database, counter):
    complete_project(database, world, clock)
    drv = HttpDriver(api, world, clock)
    # Tokens are minted and the clients opened before counting (not the server's work).
    for user in (world.officer, world.contact):
        drv.client(user)
    steps = [
        ("register", world.officer, {"severity": "serious", "rectification_days": 10,
                                     "requirements": "补设连墙件并验收"}),
        ("start_rectification", world.contact, {}),
        ("report_completion", world.contact, {"completion_report": "已补设连墙件"}),
        ("verify", world.officer, {}),
        ("close", world.officer, {}),
    ]
    # A served app counts its statements after its first requests: the calendar is held in memory
    # (cases/calendar/calendar_store.py, invalidated by calendar_watch), jurisdictions in the process's
    # reference cache, the year's case-number counter row exists. The suite wipes the database (and
    # the calendar) before each test, so one case walks the same path uncounted first.
    warm = drv.create("hazard")
    for action, user, fields in steps:
        r = drv.try_act(warm, action, user, **fields)
        assert r.status_code == 200, r.text
        warm = r.json()
    counts = {}
    checkouts = {}
    with counter.counting() as c:
        case = drv.create("hazard")
    counts["create"] = list(zip(c.statements, c.parameters))
    checkouts["create"] = c.checkouts
    derived = {"create": list(c.derived)}
    for action, user, fields in steps:
        with counter.counting() as c:
            r = drv.try_act(case, action, user, **fields)
        assert r.status_code == 200, r.text
        case = r.json()
        counts[action] = list(zip(c.statements, c.parameters))
        derived[action] = list(c.derived)
        checkouts[action] = c.checkouts
    assert case["state"] == "closed"
    for name, statements in counts.items():
        _report(name, database.dialect, statements, derived[name])
    over = {k: (len(v), CEILINGS[k]) for k, v in counts.items() if len(v) > CEILINGS[k]}
    assert not over, f"statements per request above the ceiling (count, ceiling): {over}"
    # A creation or an action is one connection checkout: the user check is the first statement of
    # its own transaction (api/routes/cases.py ``create_case``, ``act``), not a session of its own.
    assert checkouts == {"create": 1, **{action: 1 for action, _, _ in steps}}, checkouts
    # The counter sees the request's statements at all (a listener on the wrong engine would count 0).
    assert all(len(v) >= 3 for v in counts.values())
    # The documents were derived after the commit (the live server of the suite derives before it
    # answers, so they fall inside the window — counted apart), and only for the steps that issue one.
    assert {k for k, n in derived.items() if n} == {"register", "verify", "close"}
