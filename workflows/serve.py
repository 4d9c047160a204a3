"""Serve the flows: ``anjian worker`` (scale-out) and ``python -m workflows.serve`` (the child
process that ``anjian serve`` starts next to its embedded Prefect server).

A worker registers four deployments with the Prefect API and runs what their schedules create:

* ``sweep-timers/sweep-timers`` every ``ANJIAN_SWEEP_INTERVAL_SECONDS`` (default 10 s): fires
  the due timers;
* ``render-documents/render-documents`` at the same interval: renders every issued document (PDF
  + HTML, stored with its SHA-256) whether or not it is ever e-mailed, retrying transient errors;
* ``deliver-outbox/deliver-outbox`` next to it, every ``delivery_interval_seconds`` of the settings
  (the sweep interval when that setting does not exist): delivers the outbox — inbox, e-mail,
  webhook, 企业微信, 钉钉 — with retries and receipts (notifications/delivery.py), so a slow or
  unreachable channel never holds up the timers;
* ``daily-digest/daily-digest`` at 08:00 Asia/Shanghai.

Any number of workers may serve the same deployments against one Prefect server and one
PostgreSQL app database: Prefect hands each scheduled run to one of them, and the sweep's
``SELECT … FOR UPDATE SKIP LOCKED`` plus the unique keys in the app database keep every rung
exactly-once even when runs overlap. See docs/deployment.md.
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from datetime import datetime, timedelta, timezone

from workflows.prefect_env import (
    DELIVERY_FLOW,
    DIGEST_CRON,
    DIGEST_DEPLOYMENT,
    DIGEST_TIMEZONE,
    RENDER_DEPLOYMENT,
    RENDER_FLOW,
    SWEEP_DEPLOYMENT,
    SWEEP_FLOW,
    apply_process_defaults,
    prefect_home,
    resolve_api_url,
    wait_until_healthy,
)

# Flow runs one worker process runs at once: a sweep, a render, a delivery and a digest may overlap;
# more sweeps, renders or deliveries in one process would only queue on the same database rows.
RUNNER_LIMIT = 4
DELIVERY_DEPLOYMENT = "deliver-outbox"


def delivery_interval(settings) -> float:
    """Seconds between outbox deliveries: ``delivery_interval_seconds`` if the settings have it,
    else the sweep interval."""
    return float(getattr(settings, "delivery_interval_seconds", None) or settings.sweep_interval_seconds)


def build_deployments(*, sweep_interval: float, digest: bool = True,
                      delivery_interval: float | None = None) -> list:
    """The RunnerDeployments this worker serves (entrypoints by module path, so flow-run
    processes import the installed package whatever their working directory)."""
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from workflows.flows import SWEEP_BUDGET_SECONDS, daily_digest, deliver_outbox, render_documents, sweep_timers

    delivery_every = float(delivery_interval or sweep_interval)
    out = [sweep_timers.to_deployment(
        name=SWEEP_DEPLOYMENT, interval=timedelta(seconds=sweep_interval), parameters={"deliver": False},
        entrypoint_type=EntrypointType.MODULE_PATH, tags=["anjian"],
        description="Fire due timers (reminders, overdue warnings, 挂牌督办, 约谈, 通报批评, 提级, 回头看 and other "
                    "task checks); the messages they write go out with deliver-outbox."),
           render_documents.to_deployment(
        name=RENDER_DEPLOYMENT, interval=timedelta(seconds=sweep_interval),
        parameters={"budget_seconds": min(SWEEP_BUDGET_SECONDS, max(5.0, 5 * sweep_interval))},
        entrypoint_type=EntrypointType.MODULE_PATH, tags=["anjian"],
        description="Render issued documents (整改通知书, 责令停工通知书, 复查意见书, …) to PDF and HTML once, "
                    "independent of delivery; transient errors retried with backoff, failures shown on the case "
                    "and alerted to administrators."),
           deliver_outbox.to_deployment(
        name=DELIVERY_DEPLOYMENT, interval=timedelta(seconds=delivery_every),
        parameters={"budget_seconds": min(SWEEP_BUDGET_SECONDS, max(5.0, 5 * delivery_every))},
        entrypoint_type=EntrypointType.MODULE_PATH, tags=["anjian"],
        description="Deliver the outbox (inbox, e-mail, webhook, 企业微信, 钉钉) with retries, backoff, quiet hours "
                    "and a receipt per attempt.")]
    if digest:
        out.append(daily_digest.to_deployment(
            name=DIGEST_DEPLOYMENT, schedule=Cron(DIGEST_CRON, timezone=DIGEST_TIMEZONE),
            entrypoint_type=EntrypointType.MODULE_PATH, tags=["anjian"],
            description="每日督办汇总: one outbox message per supervisor per day."))
    return out


def prune_late_sweeps(older_than: timedelta) -> int:
    """Delete sweep, render and delivery runs that were scheduled while no worker was running and
    are now late.

    After an outage a runner would start every late run (up to the ~100 the scheduler made
    in advance), each in its own process. One sweep catches up on all due timers in
    ``fire_at`` order (one delivery on all due messages), so the late runs add nothing; the
    newest ones are kept.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.exceptions import ObjectNotFound

    cutoff = datetime.now(timezone.utc) - older_than
    deleted = 0
    with get_client(sync_client=True) as client:
        ids = []
        for name in (f"{SWEEP_FLOW}/{SWEEP_DEPLOYMENT}", f"{DELIVERY_FLOW}/{DELIVERY_DEPLOYMENT}",
                     f"{RENDER_FLOW}/{RENDER_DEPLOYMENT}"):
            try:
                ids.append(client.read_deployment_by_name(name).id)
            except ObjectNotFound:
                pass
        if not ids:
            return 0
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=ids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=cutoff)),
            sort=FlowRunSort.EXPECTED_START_TIME_ASC,  # the sync client sends null otherwise: 422
            limit=200)  # the API's maximum
        for run in runs:
            if run.auto_scheduled and run.run_count == 0:
                try:
                    client.delete_flow_run(run.id)
                    deleted += 1
                except ObjectNotFound:
                    pass  # another worker pruned or started it
    return deleted


def run_worker(name: str | None = None, *, sweep_interval: float | None = None, digest: bool = True,
               wait_seconds: float = 120.0) -> int:
    """Serve the flows until SIGTERM / Ctrl-C. Returns a process exit code.

    Schedules are not paused on shutdown (other workers may be serving them); the runs a
    schedule made while no worker ran are pruned at the next start (``prune_late_sweeps``).
    """
    from cases.config import get_settings

    settings = get_settings()
    apply_process_defaults()
    api_url = resolve_api_url(settings)
    os.environ["PREFECT_API_URL"] = api_url  # before Prefect is imported: it reads it once
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(settings)))
    if name:
        os.environ["ANJIAN_WORKER_NAME"] = name  # inherited by the flow-run processes
    interval = float(sweep_interval or settings.sweep_interval_seconds)

    if not wait_until_healthy(api_url, wait_seconds):
        print(f"anjian worker: Prefect API {api_url} did not answer within {wait_seconds:.0f} s", file=sys.stderr)
        return 1

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):  # in case Prefect was imported already
        return _serve_worker(name, api_url, interval, digest)


def _serve_worker(name: str | None, api_url: str, interval: float, digest: bool) -> int:
    from cases.config import get_settings

    settings = get_settings()
    # A channel nobody configured is not used: say so once, naming the setting (unless the
    # `anjian serve` that supervises this worker said it already).
    if not os.environ.get("ANJIAN_CHANNEL_WARNING_DONE"):
        try:
            from cases.db import get_database
            from notifications.channels import warn_unconfigured_at_startup

            warn_unconfigured_at_startup(get_database(), settings)
        except Exception as exc:  # noqa: BLE001 - never a reason not to serve
            print(f"anjian worker: could not check the notification channels: {exc}", file=sys.stderr)
    # A delivery interval in the settings wins; otherwise deliveries follow the sweep's interval.
    delivery_every = delivery_interval(settings) if getattr(settings, "delivery_interval_seconds", None) else interval
    deployments = build_deployments(sweep_interval=interval, digest=digest, delivery_interval=delivery_every)
    try:
        pruned = prune_late_sweeps(timedelta(seconds=max(2 * interval, 30)))
        if pruned:
            print(f"anjian worker: dropped {pruned} late sweep run(s) from an outage; one sweep catches up",
                  file=sys.stderr)
    except Exception as exc:  # pruning is an optimisation; never a reason not to serve
        print(f"anjian worker: could not prune late sweep runs: {exc}", file=sys.stderr)
    runner_name = re.sub(r"[/%]", "-", name) if name else None
    kwargs = {"name": runner_name} if runner_name else {}
    print(f"anjian worker{' ' + name if name else ''}: serving {', '.join(d.name for d in deployments)} "
          f"against {api_url} (sweep every {interval:g} s, delivery every {delivery_every:g} s)", file=sys.stderr,
          flush=True)
    serve(*deployments, pause_on_shutdown=False, limit=RUNNER_LIMIT, **kwargs)
    return 0


# After SIGTERM a worker has this long to stop in order; then it kills itself and its flow runs
# (e.g. when its Prefect server died with it and the orderly stop would wait on the API).
STOP_DEADLINE_SECONDS = 12.0


def _hard_exit() -> None:
    """Kill this worker and, when it leads its own process group (as under ``anjian serve``),
    the flow-run processes it started."""
    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


def serve(*deployments, pause_on_shutdown: bool, limit: int | None, **runner_kwargs) -> None:
    """``prefect.serve`` without its start banner, and with an orderly, bounded stop on SIGTERM.

    Prefect 3.8's Runner answers SIGTERM by calling its async ``stop`` from sync code inside
    its own event loop (a coroutine never awaited) and ``sys.exit`` from the selector: a page
    of tracebacks and no orderly shutdown. Here SIGTERM schedules ``astop()`` on the loop:
    in-flight runs are cancelled, the polling loop ends, ``runner.start()`` returns — within
    ``STOP_DEADLINE_SECONDS``, else the process group is killed. A second SIGTERM kills at once.
    Ctrl-C (SIGINT) takes asyncio's own path (the main task is cancelled).
    """
    import asyncio
    import threading

    from prefect.runner import Runner

    class _Runner(Runner):
        _stopping = False

        def handle_sigterm(self, *args, **kwargs) -> None:
            if self._stopping or not self.started:
                _hard_exit()
            self._stopping = True
            watchdog = threading.Timer(STOP_DEADLINE_SECONDS, _hard_exit)
            watchdog.daemon = True
            watchdog.start()
            loop = asyncio.get_running_loop()
            loop.call_soon_threadsafe(lambda: loop.create_task(self.astop()))

    runner = _Runner(pause_on_shutdown=pause_on_shutdown, limit=limit, **runner_kwargs)
    for deployment in deployments:
        runner.add_deployment(deployment)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    print("anjian worker: stopped", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workflows.serve", description="Serve anjian's Prefect flows.")
    p.add_argument("--name", default=None, help="worker name (recorded on each rung firing)")
    p.add_argument("--sweep-interval", type=float, default=None, help="seconds between sweeps (default: settings)")
    p.add_argument("--no-digest", action="store_true", help="do not serve the daily digest")
    p.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the Prefect API at start")
    args = p.parse_args(argv)
    return run_worker(args.name, sweep_interval=args.sweep_interval, digest=not args.no_digest,
                      wait_seconds=args.wait)


if __name__ == "__main__":
    sys.exit(main())
