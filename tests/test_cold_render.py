"""The first documents after a quiet spell (notifications/documents/cold_render.py): rendered by a lean process
(notifications/rendering/render_process.py) fed by the API process while the derive process starts — the same
bytes as the derive process would store, under a lease the derive process's render passes respect,
and handed back to them whenever the lean process cannot finish."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from cases.issuance import derive
from cases.issuance.documents import ISSUED, RENDERED
from cases.models import Document
from cases.platform.config import get_settings
from notifications.documents.cold_render import ColdRenderer, RenderProcess, lease_due_document, release
from notifications.documents.store import read_stored, render_pending_documents
from notifications.rendering.render import render_document
from tests.data.template_samples import SAMPLES
from tests.test_derive import _registered_but_not_derived, _wait_for, ready  # noqa: F401
from tests.test_derive_process import _launcher

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


def _issued_document(db, world, clock) -> int:
    """A registered hazard whose 整改通知书 is issued (numbered) but not rendered."""
    case_id, _ = _registered_but_not_derived(db, world, clock)
    derive.derive_pending(db)
    with db.session() as s:
        doc = s.query(Document).filter(Document.case_id == case_id).one()
        assert doc.status == ISSUED and doc.next_render_at is None
        return doc.id


def test_the_lean_process_renders_the_same_bytes_without_the_application():
    variables = SAMPLES["rectification_notice"]
    here = render_document("rectification_notice", variables)
    helper = RenderProcess(sys.executable, ENV)
    try:
        outcome, payload = helper.render("rectification_notice", variables)
        assert outcome == "ok"
        assert (payload["sha256"], payload["pdf"], payload["html"], payload["title"]) == \
            (here.sha256, here.pdf, here.html, here.title)
        # The document's data at fault is said as such (the derive process records the failure).
        broken = {k: v for k, v in variables.items() if k != "doc_number"}
        outcome, message = helper.render("rectification_notice", broken)
        assert outcome == "render" and "doc_number" in message
    finally:
        helper.close()
    assert helper.proc.returncode == 0  # stdin closed: it leaves
    # Lean: neither the database layer nor the application comes in with the templates and WeasyPrint
    # (one filter's helper aside), a document rendered.
    loaded = subprocess.run([sys.executable, "-c", (
        "import sys, notifications.rendering.render_process, notifications.rendering.render as r;"
        "from tests.data.template_samples import SAMPLES;"
        "assert r.render_document('rectification_notice', SAMPLES['rectification_notice']).pdf;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'cases', 'pydantic', 'prefect')))")],
        env=ENV, capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "['cases', 'cases.ledger', 'cases.ledger.identifiers']", loaded


def test_a_leased_document_is_left_alone_by_the_render_passes_until_given_back(db, ready, clock):
    doc_id = _issued_document(db, ready, clock)
    now = clock.now()
    until = now + timedelta(seconds=60)
    assert lease_due_document(db, now, until) == doc_id
    assert lease_due_document(db, now, until) is None  # nobody takes a lease held
    assert render_pending_documents(db, now) == {}  # the derive process's pass skips it
    release(db, doc_id, until)
    assert render_pending_documents(db, now) == {"rendered": 1}


def test_a_cold_renderer_renders_and_stores_the_due_documents(db, ready, clock):
    doc_id = _issued_document(db, ready, clock)
    cold = ColdRenderer(sys.executable, ENV, ready=lambda: False, limit=5, database=db)
    cold.poke()
    cold.join(timeout=120)
    assert not cold.alive() and cold.outcomes == {"rendered": 1}
    assert cold.helper.proc.returncode == 0
    with db.session() as s:
        doc = s.get(Document, doc_id)
        assert (doc.status, doc.next_render_at, doc.rendered_at) == (RENDERED, None, clock.now())
        stored = read_stored(doc, get_settings())
    assert stored is not None and stored.startswith(b"%PDF")  # read back against its sha256


def test_what_the_lean_process_cannot_finish_goes_back_to_the_derive_process(db, ready, clock):
    doc_id = _issued_document(db, ready, clock)
    cold = ColdRenderer(sys.executable, ENV, ready=lambda: False, limit=5, database=db)
    cold.helper.kill()  # gone before its first job
    cold.poke()
    cold.join(timeout=60)
    assert cold.outcomes == {"given back": 1}  # once: not taken again
    with db.session() as s:
        doc = s.get(Document, doc_id)
        assert (doc.status, doc.next_render_at, doc.error) == (ISSUED, None, None)
    assert render_pending_documents(db, clock.now()) == {"rendered": 1}


def test_after_a_quiet_spell_the_first_notice_is_rendered_while_the_derive_process_starts(db, ready, clock,
                                                                                       tmp_path):
    """A rendering launcher woken by a commit with no derive process ready starts the lean process
    with its inline derivation; the notice is rendered once, the derive process still starts."""
    launcher = _launcher(db, tmp_path, idle=30.0, inline_cases=5)
    launcher.configure(launcher.env, render=True)
    case_id, _ = _registered_but_not_derived(db, ready, clock)
    try:
        launcher.start()
        launcher.wake()
        def rendered():
            with db.session() as s:
                return [(d.status, d.next_render_at) for d in s.query(Document).filter(Document.case_id == case_id)]

        _wait_for(lambda: rendered() == [(RENDERED, None)], "the notice is rendered", bound=120)
        assert launcher.cold_started == 1 and launcher.inline_derived == 1 and launcher.started == 1
        launcher._cold.join(timeout=30)
        # Rendered by the lean process — unless, on a loaded machine, the derive process was ready first
        # (the lean one then stands down; a cold renderer by itself: the tests above).
        assert launcher._cold.outcomes in ({"rendered": 1}, {}), launcher._cold.outcomes
    finally:
        launcher.stop()
