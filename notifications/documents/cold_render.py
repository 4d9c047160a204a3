"""The first documents after a quiet spell, rendered by a lean process while the derive process starts.

Under ``anjian serve`` documents are rendered by the derive process (workflows/derive_worker.py),
which exits when nobody has worked for a while. The first commit after that would wait for a new one
to import the application, then WeasyPrint, then render: ~2.5 s before the PDF an e-mail attaches.
Instead the API process's launcher (workflows/derive_launcher.py), woken by that commit while no
derive process is ready, starts a :mod:`notifications.rendering.render_process` (templates and WeasyPrint
only) *before* it derives the commit's documents itself, and :class:`ColdRenderer` then feeds it:
for each due document it takes a lease (the row's ``next_render_at``, so the derive process's render
passes leave it alone meanwhile), computes the variables here — this process has the application
loaded — and stores what comes back exactly as the derive process would
(:func:`notifications.documents.store.store_rendered`), which wakes the e-mails waiting for it.

Once the derive process says it is ready, it renders the rest and the lean process is closed.
Whatever goes wrong here — a render error, the process dying, a timeout — only gives the lease back:
the derive process then renders the document and records a failure the one way it always does. A
lease left by a killed API process runs out after ``LEASE_SECONDS``; nothing is lost either way.
"""
from __future__ import annotations

import logging
import pickle
import subprocess
import threading
import time
from datetime import datetime, timedelta
from typing import Callable, Mapping

from sqlalchemy import or_, update

from cases.issuance.documents import ISSUED
from cases.models import Document
from cases.platform import clock
from cases.platform.config import Settings, get_settings
from cases.platform.db import Database

log = logging.getLogger("anjian.cold_render")

LEASE_SECONDS = 60.0
# A job the lean process has not answered in this long: it is killed, the lease given back.
JOB_TIMEOUT_SECONDS = 60.0
# With nothing due, it waits this long for the documents of the commit that woke it (derived on the
# launcher's thread meanwhile) or of the next ones, then closes.
WAIT_FOR_WORK_SECONDS = 3.0


class RenderProcess:
    """One ``python -m notifications.rendering.render_process``: jobs in, rendered documents out (pickles)."""

    def __init__(self, python: str, env: Mapping[str, str], *, nice: int = 0) -> None:
        self.proc = subprocess.Popen([python, "-m", "notifications.rendering.render_process"],
                                     env={**env, "ANJIAN_RENDER_PROCESS_NICE": str(nice)},
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)

    def render(self, doc_type: str, variables: Mapping, timeout: float = JOB_TIMEOUT_SECONDS) -> tuple:
        """``("ok", {html, pdf, sha256, title})``, ``("render", message)`` or ``("crash", message)``."""
        watchdog = threading.Timer(timeout, self.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            pickle.dump((doc_type, dict(variables)), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
            return pickle.load(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            return ("crash", f"the render process is gone ({type(exc).__name__})")
        finally:
            watchdog.cancel()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()

    def close(self, grace: float = 5.0) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc.stdout.close()


def lease_due_document(db: Database, now: datetime, until: datetime, skip: frozenset[int] = frozenset()) -> int | None:
    """One document due for its render (not in ``skip``), now leased until ``until`` (its
    ``next_render_at``: render passes skip it meanwhile); None when nothing is due. Another
    process's lease is never taken."""
    from notifications.documents.store import due_documents

    with db.session() as s:
        ids = [i for i in due_documents(s, now, len(skip) + 3) if i not in skip]
    for doc_id in ids:
        with db.transaction() as s:
            taken = s.execute(update(Document).where(
                Document.id == doc_id, Document.status == ISSUED,
                or_(Document.next_render_at.is_(None), Document.next_render_at <= now)).values(next_render_at=until)
                .execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            return doc_id
    return None


def release(db: Database, doc_id: int, until: datetime) -> None:
    """Give a lease back: the document is due again at once (for the derive process)."""
    with db.transaction() as s:
        s.execute(update(Document).where(Document.id == doc_id, Document.status == ISSUED,
                                         Document.next_render_at == until).values(next_render_at=None)
                  .execution_options(synchronize_session=False))


def render_leased(db: Database, doc_id: int, helper: RenderProcess, settings: Settings) -> str:
    """Render a leased document in ``helper`` and store it: rendered / stale / retry / skipped, or
    ``given back`` (anything else: the lease is for the caller to release)."""
    from notifications.documents.store import document_variables, store_rendered
    from notifications.rendering.render import RenderError, RenderedDocument

    with db.session() as s:
        doc = s.get(Document, doc_id)
        if doc is None or doc.status != ISSUED:
            return "skipped"
        doc_type = doc.doc_type
        try:
            variables = document_variables(s, doc, settings)
        except RenderError:
            return "given back"  # the derive process records the failure
    outcome, payload = helper.render(doc_type, variables)
    if outcome != "ok":
        log.info("document %s: the lean render process said %s: %s", doc_id, outcome, payload)
        return "given back"
    rendered = RenderedDocument(template=doc_type, title=payload["title"], html=payload["html"],
                                pdf=payload["pdf"], sha256=payload["sha256"])
    return store_rendered(db, doc_id, rendered, clock.now(), settings)


class ColdRenderer:
    """A lean render process and the thread that feeds it, for as long as ``ready()`` (a derive
    process ready to render) is False: up to ``limit`` documents, then it closes."""

    def __init__(self, python: str, env: Mapping[str, str], *, ready: Callable[[], bool], limit: int,
                 database: Database | None = None, nice: int = 0) -> None:
        self.ready, self.limit, self._database = ready, int(limit), database
        self.helper = RenderProcess(python, env, nice=nice)  # loading WeasyPrint from now on
        self._poke = threading.Event()
        self.outcomes: dict[str, int] = {}  # per outcome of render_leased (logged at the end; tests)
        self._thread = threading.Thread(target=self._run, name="anjian-cold-render", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def poke(self) -> None:
        """Documents may have become due (the launcher derived some)."""
        self._poke.set()

    def stop(self) -> None:
        self.limit = 0
        self._poke.set()
        self.helper.kill()
        self._thread.join(timeout=10)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            from cases.platform.db import get_database

            db = self._database or get_database()
            settings = get_settings()
            done, waited_since = 0, time.monotonic()
            given_back: set[int] = set()  # not taken again: the derive process records what went wrong
            while done < self.limit and not self.ready():
                now = clock.now()
                until = now + timedelta(seconds=LEASE_SECONDS)
                doc_id = lease_due_document(db, now, until, frozenset(given_back))
                if doc_id is None:
                    if time.monotonic() - waited_since > WAIT_FOR_WORK_SECONDS:
                        break
                    self._poke.wait(0.25)
                    self._poke.clear()
                    continue
                try:
                    outcome = render_leased(db, doc_id, self.helper, settings)
                except Exception:  # noqa: BLE001 - the database: the derive process renders it
                    log.warning("document %s: rendering it in the API process failed", doc_id, exc_info=True)
                    outcome = "given back"
                if outcome == "given back":
                    release(db, doc_id, until)
                    given_back.add(doc_id)
                self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
                done, waited_since = done + 1, time.monotonic()
        except Exception:  # noqa: BLE001 - e.g. the database is away: leases run out, nothing is lost
            log.warning("rendering documents in the API process stopped", exc_info=True)
        finally:
            self.helper.close()
            if self.outcomes:
                log.info("documents rendered in the lean process while the derive process started: %s", self.outcomes)
