"""The outbox INSERT (cases/issuance/outbox.py ``enqueue``) on both databases: each (recipient,
channel) once however often a cause is retried, the row as written read back unchanged, and one
statement that SQLAlchemy compiles once per process (its dialects' ON CONFLICT inserts never are)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from cases.issuance import outbox
from cases.models import OutboxMessage, User


def _enqueue(db, clock, users, cause, *, variables=None, urgent=False, document_no=None) -> int:
    with db.transaction() as s:
        recipients = [s.get(User, u.id) for u in users]
        return outbox.enqueue(s, case=None, template="reminder", recipients=recipients, cause=cause,
                              variables=variables or {}, now=clock.now(), urgent=urgent, document_no=document_no)


def _rows(db, cause):
    with db.session() as s:
        return {(m.recipient_user_id, m.channel): m for m in
                s.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(f"{cause}:")))}


def test_a_cause_writes_each_recipient_and_channel_once_and_the_row_reads_back_as_written(db, world, clock):
    officer, contact = world.officer, world.contact
    variables = {"case_number": "320508-YH-2026-000001", "title": "脚手架连墙件缺失", "days": 3, "tags": ["临边", "高处"]}
    first = _enqueue(db, clock, [officer, contact], "rung:1:overdue", variables=variables, urgent=True,
                     document_no="姑苏建质督〔2026〕1号")
    rows = _rows(db, "rung:1:overdue")
    assert first == len(rows) >= 2  # the inbox for each, e-mail where an address is known
    for (user_id, channel), m in rows.items():
        user = officer if user_id == officer.id else contact
        assert m.dedupe_key == f"rung:1:overdue:reminder:{user_id}:{channel}"
        assert m.variables == {**variables, "recipient_name": user.display_name}
        assert m.urgent is True and m.document_no == "姑苏建质督〔2026〕1号"
        assert m.status == "pending" and m.attempts == 0
        assert m.next_attempt_at == clock.now() and m.created_at == clock.now()
        assert m.recipient_address == (user.email if channel == "email" else None)
        assert m.sent_at is None and m.last_error is None
    # Retried (a sweep batch rolled back after its commit was unknown, a second deriver): nothing new.
    clock.advance(timedelta(minutes=5))
    assert _enqueue(db, clock, [officer, contact], "rung:1:overdue", variables={"changed": True}) == 0
    again = _rows(db, "rung:1:overdue")
    assert {k: (m.id, m.variables, m.created_at) for k, m in again.items()} == \
        {k: (m.id, m.variables, m.created_at) for k, m in rows.items()}
    # One of two recipients already has the message: only the other's rows are written.
    assert _enqueue(db, clock, [officer], "rung:2:overdue") >= 1
    added = _enqueue(db, clock, [officer, contact], "rung:2:overdue")
    assert added == len([k for k in _rows(db, "rung:2:overdue") if k[0] == contact.id]) >= 1


def test_the_outbox_insert_is_compiled_once(db, world, clock):
    seen = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        if "INSERT" in statement and "outbox_messages" in statement:
            seen.append(str(context.cache_hit))

    event.listen(db.engine, "after_cursor_execute", watch)
    try:
        for n in range(3):
            assert _enqueue(db, clock, [world.officer], f"compiled:{n}") >= 1
    finally:
        event.remove(db.engine, "after_cursor_execute", watch)
    assert len(seen) == 3
    # The first may find it compiled already (another test); the later ones must.
    assert all(hit.endswith("CACHE_HIT") for hit in seen[1:]), seen
