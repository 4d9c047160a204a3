"""The ``derive-documents`` flow: documents derived after commit (cases/issuance/derive.py).

Run by the derive process (workflows/derive_worker.py) that the served API wakes after its commits,
one flow run per pass; and by a worker's sweep lane for what is left — a process died between its
commit and the derivation, or the derivation failed — found by its one indexed check
(:func:`cases.issuance.derive.derivations_due`, the partial index ``ix_case_events_derive_due``).
Exactly once by the keys in cases/issuance/derive.py, however many workers and API processes race.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from workflows.passes import DERIVE_BATCH, derive_now, derive_pass

DERIVE_FLOW = "derive-documents"
DERIVE_BUDGET_SECONDS = 50.0


@task(name="derive-batch", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE)
def derive_batch(limit: int) -> dict[str, int]:
    """Derive up to ``limit`` cases' pending events (on PostgreSQL a few cases per transaction,
    on SQLite one; a retry re-reads what is still pending)."""
    return derive_now(limit)


@flow(name=DERIVE_FLOW, persist_result=False, log_prints=False)
def derive_documents(limit: int = DERIVE_BATCH, budget_seconds: float = DERIVE_BUDGET_SECONDS) -> dict[str, int]:
    """Issue the documents (文号, snapshot, recipients, messages) of events nobody derived yet."""
    return derive_pass(derive_batch, limit=limit, budget_seconds=budget_seconds, logger=get_run_logger())
