"""The derive process: documents derived after commit (cases/issuance/derive.py), out of the API process.

``python -m workflows.derive_worker`` is started on demand by the API process that committed an
event with documents due (workflows/derive_launcher.py) and works off the pending events in
batches: the 文号, the snapshot, recipients and outbox rows (:func:`cases.issuance.derive.derive_pending`),
then — where the launcher asks for it (``ANJIAN_DERIVE_RENDER=1``: under ``anjian serve``, whose
lanes run in the API process) — the PDFs of what it issued (``render-documents``), so WeasyPrint's
heap never lives in the API process. With a Prefect API configured (``PREFECT_API_URL``) every
pass is a Prefect flow run (``derive-documents``, ``render-documents``: task retries, listed in the
UI); without one (``anjian serve --no-prefect``) the same batch loops run without a flow run
(workflows/passes.py).

Its protocol with the launcher is two pipes: any byte on stdin is "a commit left work", EOF is
"your parent is gone, finish the batch in hand and exit"; a line ``o`` on stdout is "outbox rows
were committed" (the parent wakes its in-process deliverer; on PostgreSQL the child also sends the
``NOTIFY`` other processes listen to). It runs niced (the kernel serves the requests first) and
exits after ``ANJIAN_DERIVE_IDLE_SECONDS`` (Settings.derive_idle_seconds) without work or after ``ANJIAN_DERIVE_MAX_ITEMS``
events and documents (recycled: the heap goes back to the system); the launcher starts the next
one at the next commit. Killed at any point it loses nothing: the event's ``derive_due`` flag and
the partial index stay until the transaction that derived it commits, and the unique keys make a
second derivation a no-op (cases/issuance/derive.py).
"""
from __future__ import annotations

import logging
import os
import select
import sys
import threading
import time

log = logging.getLogger("anjian.derive_worker")

PASS_BUDGET_SECONDS = 20.0


class Pass:
    """One pass: derive what is pending, then render what is due (each a flow run with Prefect)."""

    def __init__(self, *, use_prefect: bool, render: bool) -> None:
        self.use_prefect, self.render = use_prefect, render
        self.flows = use_prefect
        self.outbox_written = False
        if use_prefect:
            from workflows.loop import import_prefect_quietly

            import_prefect_quietly()
        from cases.issuance import wakeup

        # A registered waker: the outbox INSERTs of this process carry no pg_notify (notify_column);
        # the pass says it once after deriving and once after rendering (a render wakes held e-mails).
        wakeup.add_outbox_waker(self._outbox_committed)

    def _outbox_committed(self) -> None:
        # The parent's deliverer is told at once (one line on a pipe); other processes' deliverers
        # by one NOTIFY per pass (_announce).
        self.outbox_written = True
        _tell_parent()

    def run(self) -> int:
        """Returns how many events were derived plus documents rendered."""
        # A Prefect server that does not answer its health check (stalled: docs/performance.md)
        # holds nothing up: this pass runs without flow runs.
        self.flows = self.use_prefect and _prefect_answers()
        done = self._derive()
        # Announced before rendering: messages without a PDF (webhook, SMS, inbox) leave now; an
        # e-mail carrying a document is not claimed until it is rendered (notifications/delivery.py),
        # and the render's commit is announced in turn.
        self._announce()
        if self.render:
            done += self._render()
            self._announce()
        return done

    def _announce(self) -> None:
        if self.outbox_written:
            self.outbox_written = False
            _announce_outbox()

    def _derive(self) -> int:
        from cases.platform.db import get_database
        from cases.issuance.derive import derivations_due

        if not derivations_due(get_database()):
            return 0  # one indexed SELECT: no empty flow run
        from workflows.passes import derive_plainly

        if self.flows:
            from workflows.derive_flow import derive_documents
            from workflows.loop import run_guarded

            totals = run_guarded(lambda: _as_flow_run(derive_documents, budget_seconds=PASS_BUDGET_SECONDS),
                                 lambda: derive_plainly(budget_seconds=PASS_BUDGET_SECONDS),
                                 name="derive-documents") or {}
        else:
            totals = derive_plainly(budget_seconds=PASS_BUDGET_SECONDS)
        return int(totals.get("events", 0))

    def _render(self) -> int:
        from cases.platform import clock
        from workflows.loop import documents_due, release_memory

        if not documents_due(clock.now()):
            return 0
        # As render-documents does (its batches, the renderer's garbage collected after each),
        # without importing Prefect.
        from workflows.passes import render_plainly

        if self.flows:
            from workflows.flows import render_documents
            from workflows.loop import run_guarded

            totals = run_guarded(lambda: _as_flow_run(render_documents, budget_seconds=PASS_BUDGET_SECONDS),
                                 lambda: render_plainly(budget_seconds=PASS_BUDGET_SECONDS),
                                 name="render-documents") or {}
        else:
            totals = render_plainly(budget_seconds=PASS_BUDGET_SECONDS)
        release_memory()
        return int(totals.get("rendered", 0)) + int(totals.get("failed", 0))


def _as_flow_run(flow, **kwargs) -> dict:
    """Call ``flow`` (a flow run), with Prefect's per-run heartbeat thread off (shared/notes/prefect.md)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        return flow(**kwargs) or {}


def _prefect_answers() -> bool:
    from workflows.loop import prefect_answers

    return prefect_answers()


def _tell_parent() -> None:
    try:
        sys.stdout.write("o\n")
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):  # the parent is gone
        pass


def _announce_outbox() -> None:
    """Outbox rows were committed: on PostgreSQL, wake the deliverers of other processes (one
    ``NOTIFY`` per pass). The parent was told at each commit already (``_outbox_committed``)."""
    from cases.platform.db import get_database

    db = get_database()
    if db.dialect == "postgresql":
        from sqlalchemy import text
        from cases.issuance.wakeup import CHANNEL

        try:
            with db.transaction() as s:
                s.execute(text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
        except Exception:  # noqa: BLE001 - the deliverers' poll is the fallback
            log.exception("outbox NOTIFY failed")


def _wait_for_wake(fd: int, timeout: float) -> str:
    """'wake' (bytes arrived, all drained), 'idle' (timeout) or 'eof' (the parent is gone)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return "idle"
    got = os.read(fd, 65536)
    if not got:
        return "eof"
    while select.select([fd], [], [], 0)[0]:  # drain: one pass serves every wake so far
        more = os.read(fd, 65536)
        if not more:
            return "eof"
    return "wake"


# After the parent dies (killed, or stopped without closing this pipe) a pass may hang on a Prefect
# server that died with it: the Prefect client retries its calls with back-off for minutes. What this
# process does is transactional and exactly-once by unique keys (a killed derive process loses
# nothing: tests/test_derive_process.py), so it leaves that long after its parent is gone.
PARENT_GONE_GRACE_SECONDS = 10.0


def _watch_parent(parent: int, grace: float = PARENT_GONE_GRACE_SECONDS) -> None:
    """Exit the whole process ``grace`` seconds after the parent is gone, whatever the pass is doing."""
    while os.getppid() == parent:
        time.sleep(1.0)
    time.sleep(grace)
    print(f"anjian derive: the parent process {parent} is gone; leaving (work left is derived later)",
          file=sys.stderr, flush=True)
    os._exit(0)


def main() -> int:
    from cases.platform.config import Settings

    threading.Thread(target=_watch_parent, args=(os.getppid(),), name="parent-watch", daemon=True).start()

    settings = Settings()  # ANJIAN_DERIVE_* from the environment the launcher gave this process
    try:
        os.nice(settings.derive_nice)
    except OSError:
        pass
    logging.basicConfig(level=logging.WARNING, format="anjian derive: %(levelname)s %(name)s: %(message)s")
    idle = settings.derive_idle_seconds
    max_items = settings.derive_max_items
    # What the API process installs at import (api/app.py): guards and effects, channel resolver.
    from cases.ledger.rules import EFFECTS  # noqa: F401
    import notifications.preferences  # noqa: F401
    import notifications.documents  # noqa: F401

    use_prefect = bool(os.environ.get("PREFECT_API_URL")) and settings.derive_prefect
    work = Pass(use_prefect=use_prefect, render=settings.derive_render)
    fd = sys.stdin.fileno()
    done, parent_gone = 0, False
    while True:
        try:
            n = work.run()
        except Exception as exc:  # noqa: BLE001 - the flow failed after its retries: left pending
            print(f"anjian derive: pass failed: {type(exc).__name__}: {exc}"[:500], file=sys.stderr, flush=True)
            n = 0
            time.sleep(1.0)
        done += n
        if parent_gone or done >= max_items:
            break
        if n:
            state = _wait_for_wake(fd, 0)  # consume the wakes this pass served; go on at once
        else:
            state = _wait_for_wake(fd, idle)
            if state == "idle":
                break
        parent_gone = state == "eof"
    if use_prefect:
        from workflows.embedded import drain_prefect_services

        drain_prefect_services(5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
