"""The ``derive-documents`` flow: documents derived after commit (cases/issuance/derive.py).

Run by the derive process (workflows/derive_worker.py) that the served API wakes after its commits,
and by a worker's sweep lane for what is left — a process died between its commit and the
derivation, or the derivation failed — found by its one indexed check
(:func:`cases.issuance.derive.derivations_due`, the partial index ``ix_case_events_derive_due``).
Exactly once by the keys in cases/issuance/derive.py, however many workers and API processes race.

In the derive process a run does more than derive: with ``render=True`` it renders the PDFs of what
it issued too (``render-batch`` task runs, as ``render-documents`` has them), and it lingers
(workflows/passes.py ``Linger``): woken by the next commit, it derives and renders within the same
run, so a busy minute is one flow run and not two per transition — creating a run costs a round
trip to the Prefect server (0.1 s, seconds when its SQLite is busy) between a commit and its e-mail.
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from workflows.passes import DERIVE_BATCH, current_linger, derive_and_render_pass, derive_now

DERIVE_FLOW = "derive-documents"
DERIVE_BUDGET_SECONDS = 50.0


@task(name="derive-batch", retries=2, retry_delay_seconds=2, persist_result=False, cache_policy=NO_CACHE)
def derive_batch(limit: int) -> dict[str, int]:
    """Derive up to ``limit`` cases' pending events (on PostgreSQL a few cases per transaction,
    on SQLite one; a retry re-reads what is still pending)."""
    return derive_now(limit)


@flow(name=DERIVE_FLOW, persist_result=False, log_prints=False)
def derive_documents(limit: int = DERIVE_BATCH, budget_seconds: float = DERIVE_BUDGET_SECONDS,
                     render: bool = False) -> dict[str, int]:
    """Issue the documents (文号, snapshot, recipients, messages) of events nobody derived yet and,
    with ``render``, render them."""
    logger = get_run_logger()
    linger = current_linger()

    from workflows.flows import render_batch

    def one_pass() -> dict[str, int]:
        return derive_and_render_pass(derive_batch, render_batch if render else None, limit=limit,
                                      budget_seconds=budget_seconds, logger=logger)

    totals = one_pass()
    if linger is not None:
        linger.more(one_pass, totals)
    return totals
