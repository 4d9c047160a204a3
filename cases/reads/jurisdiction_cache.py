"""Jurisdiction names and paths held per process.

Jurisdictions are reference data the application only ever adds (cases.reference.load_jurisdictions
inserts the missing codes, nothing updates or deletes one), so a (name, path) once read stays true:
a code not yet held is read once, then answered from memory. It saves the access check's subtree
query (``in_subtree``) and the names query of a case page on every transition.
"""
from __future__ import annotations

import threading
import weakref
from typing import Iterable, NamedTuple

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cases.models import Jurisdiction


class JurisdictionFacts(NamedTuple):
    name: str
    path: str


_lock = threading.Lock()
_cache: "weakref.WeakKeyDictionary[Engine, dict[str, JurisdictionFacts]]" = weakref.WeakKeyDictionary()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def jurisdiction_facts(session: Session, codes: Iterable[str | None]) -> dict[str, JurisdictionFacts]:
    """{code: (name, path)} of the given codes that exist (one SELECT for codes not yet held)."""
    wanted = {c for c in codes if c}
    engine = _engine(session)
    with _lock:
        held = _cache.setdefault(engine, {})
        out = {c: held[c] for c in wanted if c in held}
    missing = wanted - out.keys()
    if missing:
        rows = session.execute(select(Jurisdiction.code, Jurisdiction.name, Jurisdiction.path)
                               .where(Jurisdiction.code.in_(sorted(missing)))).all()
        found = {code: JurisdictionFacts(name, path) for code, name, path in rows}
        with _lock:
            _cache.setdefault(engine, {}).update(found)
        out.update(found)
    return out


# Whole rows, for code that wants the ORM object (the documents' preflight, the facts of a letter).
_rows: "weakref.WeakKeyDictionary[Engine, dict[str, dict]]" = weakref.WeakKeyDictionary()
_COLUMNS = tuple(c.key for c in Jurisdiction.__mapper__.column_attrs)


def jurisdiction_rows(session: Session, codes: Iterable[str | None]) -> dict[str, Jurisdiction]:
    """{code: Jurisdiction} in this session, without a query for a code this process has read
    before: the object is built from the held row and attached as if loaded (make_transient_to_detached),
    so ``session.get(Jurisdiction, code)`` finds it while the caller keeps a reference."""
    from sqlalchemy.orm import make_transient_to_detached

    wanted = {c for c in codes if c}
    engine = _engine(session)
    out: dict[str, Jurisdiction] = {}
    with _lock:
        held = dict(_rows.get(engine, {}))
    for code in wanted:
        j = session.identity_map.get(session.identity_key(Jurisdiction, code))
        if j is not None:
            out[code] = j
        elif code in held:
            j = Jurisdiction(**held[code])
            make_transient_to_detached(j)
            session.add(j)
            out[code] = j
    missing = wanted - out.keys()
    if missing:
        for j in session.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(sorted(missing)))):
            out[j.code] = j
            with _lock:
                _rows.setdefault(engine, {})[j.code] = {k: getattr(j, k) for k in _COLUMNS}
    return out


def clear_jurisdiction_cache() -> None:
    with _lock:
        _cache.clear()
        _rows.clear()
