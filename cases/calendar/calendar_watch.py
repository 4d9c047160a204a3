"""How a process learns that the calendar changed, without a query per transition.

One watch per engine gives a *token*: a value that changes whenever an upload may have committed
since it was taken, or ``None`` when the process cannot know (then the caller asks the database).

- **PostgreSQL**: a daemon thread holds its own connection with ``LISTEN anjian_calendar``; an
  upload sends ``pg_notify`` in its transaction, which PostgreSQL delivers at commit. The token is
  (connection epoch, notifications seen); it is ``None`` while the listener is not connected, so a
  lost connection costs a query per transition, never a stale calendar held for good.
- **SQLite** (one machine): a version file next to the database (``<db>.calendar``), rewritten by
  replacement after an upload commits; the token is its (inode, mtime, size) — one ``os.stat``,
  ≈1–2 µs, where ``PRAGMA data_version`` would be a round trip and changes on every commit of any
  other connection. In-memory databases have one process: the local counter is the token.
- **This process**: ``bump`` after its own upload commits (every token includes the counter).

Between an upload's commit and another process hearing of it a transition there may still compute
a deadline with the old calendar; it is stamped with the old generation and the sweep repairs it
(cases.calendar.calendar_repair).
"""
from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any, Hashable

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

CHANNEL = "anjian_calendar"
# The listener waits this long per poll for a notification (then checks that it should go on).
POLL_SECONDS = 2.0
# The first caller waits at most this long for the listener's first LISTEN (a few ms normally), so
# a process does not start with a query per transition; after that it never waits.
READY_WAIT_SECONDS = 1.0
RECONNECT_MAX_SECONDS = 30.0


class _LocalWatch:
    """Same-process changes only (SQLite in memory, or a base for the others)."""

    def __init__(self) -> None:
        self.local = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.local += 1

    def token(self) -> Hashable | None:
        return self.local

    def signal(self, generation: int) -> None:
        """After an upload of ``generation`` committed (other processes' side)."""

    def heal(self, generation: int) -> None:
        """The sweep read ``generation`` from the database: make sure others learn of it."""

    def stop(self) -> None:
        pass


class FileWatch(_LocalWatch):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def token(self) -> Hashable | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return (self.local, None)
        except OSError:
            return None
        return (self.local, st.st_ino, st.st_mtime_ns, st.st_size)

    def signal(self, generation: int) -> None:
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            tmp.write_text(f"{generation}\n", encoding="ascii")
            os.replace(tmp, self.path)  # a new inode: the token changes even within one mtime tick
        except OSError:
            log.warning("could not write the calendar version file %s; other processes learn of "
                        "generation %s at the next sweep", self.path, generation, exc_info=True)

    def heal(self, generation: int) -> None:
        try:
            current = self.path.read_text(encoding="ascii").strip()
        except OSError:
            current = None
        if current != str(generation):
            self.signal(generation)


class ListenWatch(_LocalWatch):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.epoch = 0
        self.seen = 0
        self.connected = False
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._engine_ref = weakref.ref(engine)
        self._thread = threading.Thread(target=self._run, name="anjian-calendar-listen", daemon=True)
        self._thread.start()

    def token(self) -> Hashable | None:
        if not self.connected:
            return None
        return (self.local, self.epoch, self.seen)

    def stop(self) -> None:
        self._stop.set()

    def _alive(self) -> bool:
        return not self._stop.is_set() and self._engine_ref() is not None

    def _run(self) -> None:
        import psycopg

        delay = 0.5
        warned = False
        while self._alive():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5,
                                     application_name="anjian-calendar-listen") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    with self._lock:
                        self.epoch += 1  # whatever was cached before LISTEN may have missed a change
                    self.connected = True
                    self.ready.set()
                    delay, warned = 0.5, False
                    while self._alive():
                        for _ in conn.notifies(timeout=POLL_SECONDS):
                            with self._lock:
                                self.seen += 1
            except Exception:  # noqa: BLE001 - any failure: fall back to a query per transition
                if not warned and self._alive():
                    log.warning("calendar listener lost its connection; checking the calendar per "
                                "transition until it is back", exc_info=True)
                    warned = True
            finally:
                self.connected = False
            self.ready.set()  # not connected, but nobody should wait for it any longer
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)


_watches: "weakref.WeakKeyDictionary[Engine, Any]" = weakref.WeakKeyDictionary()
_watches_lock = threading.Lock()


def _make(engine: Engine) -> _LocalWatch:
    backend = engine.dialect.name
    if backend == "postgresql":
        return ListenWatch(engine)
    if backend == "sqlite":
        database = make_url(str(engine.url)).database
        if database and database != ":memory:" and not database.startswith("file::memory"):
            return FileWatch(Path(database).with_name(Path(database).name + ".calendar"))
    return _LocalWatch()


def watch_for(engine: Engine) -> _LocalWatch:
    w = _watches.get(engine)
    if w is not None:
        return w
    with _watches_lock:
        w = _watches.get(engine)
        if w is None:
            w = _make(engine)
            _watches[engine] = w
            event.listen(engine, "engine_disposed", _on_dispose)
    if isinstance(w, ListenWatch) and not w.ready.is_set():
        w.ready.wait(READY_WAIT_SECONDS)
    return w


def _on_dispose(engine: Engine) -> None:
    with _watches_lock:
        w = _watches.pop(engine, None)
    if w is not None:
        w.stop()
