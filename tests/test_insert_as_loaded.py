"""``cases.platform.db.insert_as_loaded`` on both databases: a transition's event and the deadline it
opens are written by one INSERT on the table and join the session as if loaded — every column as
the database wrote it (defaults, and on PostgreSQL the trigger that copies the case's jurisdiction
onto a deadline), nothing read again afterwards, and what the session had pending flushed first."""
from __future__ import annotations

from sqlalchemy import event, select

from cases.clocks.deadlines import open_deadline
from cases.ledger import services
from cases.models import Case, CaseEvent, Deadline
from cases.platform.db import insert_as_loaded
from tests.machine_paths import create_payload


def _statements(db):
    seen: list[str] = []

    def listen(conn, cursor, statement, *_):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    return seen, lambda: event.remove(db.engine, "before_cursor_execute", listen)


def test_an_event_and_a_deadline_are_written_once_and_read_as_written(db, world, clock):
    now = clock.now()
    with db.transaction() as s:
        case_id = services.create_case(s, world.officer, create_payload("hazard", world, clock), now=now).id
    seen, stop = _statements(db)
    try:
        with db.transaction() as s:
            case = s.get(Case, case_id)
            case.title = "改过的标题"  # pending when the event is written: flushed first
            before = len(seen)
            ev = CaseEvent(case_id=case_id, seq=99, at=now, actor_id=world.officer.id, action="add_note",
                           from_state=case.state, to_state=case.state, comment="现场复核")  # payload: its default
            insert_as_loaded(s, ev)
            written = seen[before:]
            assert [w.split()[0] for w in written] == ["UPDATE", "INSERT"], written
            assert ev in s and ev.id is not None
            after_insert = len(seen)
            assert (ev.payload, ev.derive_due, ev.comment, ev.seq) == ({}, None, "现场复核", 99)
            assert s.get(CaseEvent, ev.id) is ev

            d = open_deadline(s, case=case, key="probe", label="测试期限", ladder="rectification", start_at=now,
                              amount=5, unit="calendar_day", now=now)
            assert d.id is not None and d.due_at is not None and d.extensions == [] and d.status == "open"
            # the trigger's value on PostgreSQL; SQLite sets it after the row is written (as before)
            if db.dialect == "postgresql":
                assert d.jurisdiction_code == case.jurisdiction_code
            reads_after = [w for w in seen[after_insert:] if w.lstrip().upper().startswith("SELECT")]
            assert not any("FROM case_events" in w or "FROM deadlines" in w for w in reads_after), reads_after
            s.flush()
            assert not s.dirty and not s.new  # attached as loaded: nothing left to write
    finally:
        stop()
    with db.session() as s:
        row = s.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.seq == 99)).one()
        assert (row.action, row.payload, row.comment) == ("add_note", {}, "现场复核")
        assert s.get(Case, case_id).title == "改过的标题"
        assert s.scalars(select(Deadline).where(Deadline.case_id == case_id, Deadline.key == "probe")).one().amount == 5
