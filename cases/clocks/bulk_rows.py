"""Writing many rows at once for the bulk sweep (cases/clocks/escalation_bulk.py): COPY on
PostgreSQL and executemany on SQLite, the outbox rows a batch sends with their dedupe keys, and the
event sequence numbers bumped per case."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from cases.clocks.sweep import _in
from cases.platform.db import mark_written
from cases.models import Case

CASE_COLS = ("id", "event_seq", "number", "title", "state", "jurisdiction_code", "assignee_id", "enterprise_id")
OUTBOX_COLS = ("dedupe_key", "case_id", "template", "recipient_user_id", "recipient_address", "channel", "variables",
               "document_no", "urgent", "status", "attempts", "next_attempt_at", "created_at")


def dumps(v) -> str:
    return json.dumps(v, ensure_ascii=False)


def copy_text(v: str | None) -> str:
    """A text value as a ``COPY … FROM STDIN`` (text format) field. (Not ``str.translate``: ten
    times slower on the variables JSON, which as JSON has no raw tab or newline anyway.)"""
    if v is None:
        return "\\N"
    if "\\" in v:
        v = v.replace("\\", "\\\\")
    if "\t" in v:
        v = v.replace("\t", "\\t")
    if "\n" in v:
        v = v.replace("\n", "\\n")
    if "\r" in v:
        v = v.replace("\r", "\\r")
    return v


def copy_rows(s: Session, table: str, cols: tuple[str, ...], rows: list[tuple]) -> None:
    """Rows into a table: ``COPY … FROM STDIN`` on PostgreSQL, executemany on SQLite. No
    conflict handling: a duplicate key raises (and the batch goes to the per-timer path)."""
    if not rows:
        return
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        mark_written(conn)  # a COPY on the driver's cursor: no session may end it with COMMIT as a read
        raw = conn.connection.dbapi_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
    else:
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)


class OutboxRows:
    """A batch's outbox rows, the bulk of its data (≈4 per timer, each with its variables JSON).

    PostgreSQL: ``COPY`` text lines glued from per-firing and per-recipient pieces, sent while
    the rows are being built (the server inserts one chunk while Python builds the next — so
    nothing in between may query the database). SQLite: tuples for one executemany."""

    CHUNK = 256

    def __init__(self, s: Session, dialect: str, now: datetime, db_now) -> None:
        self.s = s
        self.pg = dialect == "postgresql"
        self.db_now = db_now
        self.rows: list = []
        self._stack = None
        self._copy = None
        stamp = now.isoformat()
        self._tail = f"\tpending\t0\t{stamp}\t{stamp}\n"

    def __enter__(self) -> "OutboxRows":
        return self

    def _open(self) -> None:
        from contextlib import ExitStack

        self._stack = ExitStack()
        conn = self.s.connection()
        mark_written(conn)
        cur = self._stack.enter_context(conn.connection.dbapi_connection.cursor())
        self._copy = self._stack.enter_context(cur.copy(f"COPY outbox_messages ({', '.join(OUTBOX_COLS)}) FROM STDIN"))

    def __exit__(self, *exc) -> None:
        if self.pg:
            if self.rows and exc[0] is None:
                if self._copy is None:
                    self._open()
                self._copy.write("".join(self.rows))
            self.rows = []
            if self._stack is not None:
                self._stack.__exit__(*exc)
        elif exc[0] is None and self.rows:
            copy_rows(self.s, "outbox_messages", OUTBOX_COLS, self.rows)

    def add(self, cause: str, case_id: int, template: str, fan: list[tuple], variables: str,
            document_no: str | None, urgent: bool) -> int:
        """One message to its recipients: ``variables`` is its JSON without the closing brace."""
        rows = self.rows
        if self.pg:
            cause, head = copy_text(cause), f"\t{case_id}"
            variables = copy_text(variables)
            end = f"\t{copy_text(document_no)}\t{'t' if urgent else 'f'}{self._tail}"
            for _, _, _, _, _, tail, mid, name in fan:
                rows.append(cause + tail + head + mid + variables + name + end)
            if len(rows) >= self.CHUNK:
                if self._copy is None:
                    self._open()
                self._copy.write("".join(rows))
                self.rows = []
        else:
            db_now = self.db_now
            for tail, uid, address, channel, name, _, _, _ in fan:
                rows.append((cause + tail, case_id, template, uid, address, channel, variables + name, document_no,
                             urgent, "pending", 0, db_now, db_now))
        return len(fan)


_PG_BUMP_SEQS = text(
    # Lock the cases in id order, skipping those locked elsewhere; take each locked case's event
    # seqs in one bump and read what the messages need — one statement.
    "WITH l AS (SELECT id FROM cases WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED), "
    "k AS (SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:ns AS integer[])) AS k(id, n)) "
    "UPDATE cases AS c SET event_seq = c.event_seq + k.n FROM l JOIN k ON k.id = l.id WHERE c.id = l.id "
    f"RETURNING {', '.join('c.' + c for c in CASE_COLS)}")


def bump_seqs(s: Session, per_case: dict[int, int], dialect: str) -> dict[int, Any]:
    """Reserve ``per_case[id]`` event seqs per case; the cases' fields as rows (``event_seq`` is
    the last seq reserved). PostgreSQL: only the cases it could lock without waiting."""
    ids = sorted(per_case)
    if dialect == "postgresql":
        rows = s.execute(_PG_BUMP_SEQS, {"ids": ids, "ns": [per_case[i] for i in ids]})
        return {r.id: r for r in rows}
    ct = Case.__table__
    by_n: dict[int, list[int]] = {}
    for cid in ids:
        by_n.setdefault(per_case[cid], []).append(cid)
    for n, group in sorted(by_n.items()):
        s.execute(update(ct).where(_in(ct.c.id, group, dialect)).values(event_seq=ct.c.event_seq + n))
    return {r.id: r for r in s.execute(select(*[ct.c[c] for c in CASE_COLS]).where(_in(ct.c.id, ids, dialect)))}
