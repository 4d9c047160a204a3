"""Garbage-collector pauses of the served process: freeze what lives for the whole process.

CPython's full (generation 2) collection walks every tracked object. After start-up the API process
holds ~150,000 of them — modules, SQLAlchemy mappers, FastAPI routes, Jinja templates, the
catalogues — that live as long as the process, and a full collection walking them took 50–110 ms
on this machine, in the middle of whichever request happened to allocate at that moment: most of
the p95 of the reads on a quiet machine (docs/performance.md "Reads").

``gc.freeze()`` moves every object alive at that moment into a permanent generation that the
collector no longer walks. ``settle`` does it once the app is built, and again after each of the
first ``WARMUP_FULL_COLLECTIONS`` full collections of the running server, which catch what the
first requests build and keep (compiled SQL and templates, pools, caches). After that the
collector runs as before over what requests create (a full collection: a few ms).

Served processes only (``api.app.create_served_app``): objects frozen are never collected, so a
process that builds and drops many apps (the tests) must not freeze them.
"""
from __future__ import annotations

import gc
import logging

log = logging.getLogger("anjian.gc")

WARMUP_FULL_COLLECTIONS = 3

_state = {"left": 0}


def _after_full_collection(phase: str, info: dict) -> None:
    if phase != "stop" or info.get("generation") != 2 or _state["left"] <= 0:
        return
    _state["left"] -= 1
    gc.freeze()  # what survived a full collection is long-lived: keep it out of the next ones
    if _state["left"] == 0:
        gc.callbacks.remove(_after_full_collection)
        log.debug("gc warm-up done: %d objects frozen", gc.get_freeze_count())


def settle(warmup_full_collections: int = WARMUP_FULL_COLLECTIONS) -> int:
    """Collect, freeze what is left, and freeze again after the first full collections.
    Returns the number of objects frozen now."""
    gc.collect()
    gc.freeze()
    if warmup_full_collections > 0 and _after_full_collection not in gc.callbacks:
        _state["left"] = warmup_full_collections
        gc.callbacks.append(_after_full_collection)
    return gc.get_freeze_count()
