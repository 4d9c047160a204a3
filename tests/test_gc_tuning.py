"""The served process freezes its long-lived objects out of the collector's full passes
(api/gc_tuning.py): what start-up built is frozen, the first full collections of the running server
freeze what the first requests kept, and after the warm-up the collector is left as it was."""
from __future__ import annotations

import gc

from api import gc_tuning


def test_settle_freezes_start_up_then_warm_up_collections_then_stops():
    was_enabled = gc.isenabled()
    gc.disable()  # only the collections below (the live server's threads allocate meanwhile)
    try:
        frozen = gc_tuning.settle(warmup_full_collections=2)
        assert frozen > 1000  # (the count only falls afterwards, as frozen objects are freed)
        assert gc_tuning._after_full_collection in gc.callbacks

        kept = [[i] for i in range(5000)]  # built after start-up and kept, like a request cache
        gc.collect()  # the first full collection of the warm-up: what survived it is frozen
        assert gc.get_freeze_count() >= frozen + 4000
        assert gc_tuning._after_full_collection in gc.callbacks

        gc.collect(1)  # a younger generation's collection is not part of the warm-up
        assert gc_tuning._after_full_collection in gc.callbacks
        gc.collect()  # the second and last
        assert gc_tuning._after_full_collection not in gc.callbacks

        after = gc.get_freeze_count()
        later = [[i] for i in range(5000)]
        gc.collect()  # after the warm-up a full collection freezes nothing more
        assert gc.get_freeze_count() <= after
        del kept, later
    finally:
        if gc_tuning._after_full_collection in gc.callbacks:
            gc.callbacks.remove(gc_tuning._after_full_collection)
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def test_served_app_is_settled(monkeypatch):
    calls = []
    monkeypatch.setattr(gc_tuning, "settle", lambda *a, **k: calls.append(1) or 0)
    from api.app import create_served_app

    app = create_served_app()
    assert calls == [1] and app.title
