"""A lean process that turns a document's template variables into its HTML and PDF, and nothing else.

``python -m notifications.rendering.render_process`` is started by the API process when a commit issued a
document and no derive process is ready to render it (notifications/documents/cold_render.py): the derive
process first imports the whole application (~1 s of CPU) before its first PDF, while this one
imports only the templates and WeasyPrint — started before the API process has even derived the
document, so WeasyPrint loads while the 文号 is taken. Its first PDF is ready ~1 s after its start
instead of ~2.5 s, and the e-mail that attaches it goes out that much sooner.

It reads nothing from the database and writes nothing to disk: the parent computes the variables
(notifications/documents/store.py ``document_variables``) and stores the result. Protocol, pickles on the
pipes (parent and child are the same program): stdin carries ``(doc_type, variables)`` jobs; for each
stdout carries ``("ok", {"html", "pdf", "sha256", "title"})``, ``("render", message)`` for a
:class:`notifications.rendering.render.RenderError` (the document's data is at fault) or ``("crash", message)``
for anything else. EOF on stdin (the parent closed it or is gone) ends the process.
"""
from __future__ import annotations

import importlib
import os
import pickle
import sys


def _answer(out, job) -> None:
    from notifications.rendering.render import RenderError, render_document

    doc_type, variables = job
    try:
        doc = render_document(doc_type, variables)
    except RenderError as exc:
        reply: tuple = ("render", str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. out of memory: the parent leaves it to the derive process
        reply = ("crash", f"{type(exc).__name__}: {exc}"[:500])
    else:
        reply = ("ok", {"html": doc.html, "pdf": doc.pdf, "sha256": doc.sha256, "title": doc.title})
    pickle.dump(reply, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def main() -> int:
    nice = int(os.environ.get("ANJIAN_RENDER_PROCESS_NICE", "0") or 0)
    if nice:
        try:
            os.nice(nice)
        except OSError:
            pass
    # WeasyPrint loads while the parent derives the document (the first job is a few ms away).
    from notifications.rendering.pdf_engine import import_weasyprint

    import_weasyprint()
    importlib.import_module("notifications.rendering.render")  # the templates' environment, before the first job

    jobs, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = pickle.load(jobs)
        except EOFError:
            return 0
        _answer(out, job)


if __name__ == "__main__":
    sys.exit(main())
