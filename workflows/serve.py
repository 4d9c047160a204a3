"""Run the flows: ``anjian worker`` (scale-out) and ``python -m workflows.serve`` (the child
process that ``anjian serve --workers N`` starts next to its embedded Prefect server; with one API
process the lanes run in it instead, workflows/embedded.py).

A worker imports Prefect and the flows once and runs them in-process, on a schedule of its own
(workflows/loop.py): every ``ANJIAN_SWEEP_INTERVAL_SECONDS`` (default 10 s) ``sweep-timers`` when a
timer is due, then ``render-documents`` when a document waits; ``deliver-outbox`` within a second
of a due outbox row; ``daily-digest`` at 08:00 Asia/Shanghai. Each is a Prefect flow run (task
retries, states, logs, listed in the Prefect UI); none is a process of its own, and an idle tick
is one indexed ``SELECT`` on the app database, nothing more.

Any number of workers may run against one Prefect server and one PostgreSQL app database: the
sweep's ``SELECT … FOR UPDATE SKIP LOCKED`` plus the unique keys in the app database keep every
rung and message exactly-once even when runs overlap. See docs/deployment.md.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from workflows.prefect_env import (
    DELIVERY_FLOW,
    DIGEST_DEPLOYMENT,
    DIGEST_FLOW,
    RENDER_DEPLOYMENT,
    RENDER_FLOW,
    SWEEP_DEPLOYMENT,
    SWEEP_FLOW,
    apply_process_defaults,
    default_worker_name,
    prefect_home,
    resolve_api_url,
    wait_until_healthy,
)

DELIVERY_DEPLOYMENT = "deliver-outbox"
# The deployments earlier versions served with a Prefect Runner (a process per flow run).
OLD_DEPLOYMENTS = (f"{SWEEP_FLOW}/{SWEEP_DEPLOYMENT}", f"{RENDER_FLOW}/{RENDER_DEPLOYMENT}",
                   f"{DELIVERY_FLOW}/{DELIVERY_DEPLOYMENT}", f"{DIGEST_FLOW}/{DIGEST_DEPLOYMENT}")


def delivery_poll(settings) -> float:
    """Seconds between checks of the outbox: ``delivery_interval_seconds`` if the settings have
    it, else 1 s (an idle check is one indexed SELECT)."""
    from workflows.loop import DELIVERY_POLL_SECONDS

    return float(getattr(settings, "delivery_interval_seconds", None) or DELIVERY_POLL_SECONDS)


def retire_old_deployments() -> int:
    """Delete the deployments an earlier version served, so that a Prefect server kept from
    then (its scheduler on) does not go on making runs nobody takes. Returns how many."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deleted = 0
    with get_client(sync_client=True) as client:
        for name in OLD_DEPLOYMENTS:
            try:
                client.delete_deployment(client.read_deployment_by_name(name).id)
                deleted += 1
            except ObjectNotFound:
                pass
    return deleted


def run_worker(name: str | None = None, *, sweep_interval: float | None = None, digest: bool = True,
               wait_seconds: float = 120.0) -> int:
    """Run the flows until SIGTERM / Ctrl-C. Returns a process exit code."""
    from cases.platform.config import get_settings

    settings = get_settings()
    apply_process_defaults()
    api_url = resolve_api_url(settings)
    os.environ["PREFECT_API_URL"] = api_url  # before Prefect is imported: it reads it once
    os.environ.setdefault("PREFECT_HOME", str(prefect_home(settings)))
    if name:
        os.environ["ANJIAN_WORKER_NAME"] = name  # recorded on every rung firing
    interval = float(sweep_interval or settings.sweep_interval_seconds)

    if not wait_until_healthy(api_url, wait_seconds):
        print(f"anjian worker: Prefect API {api_url} did not answer within {wait_seconds:.0f} s", file=sys.stderr)
        return 1

    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}):  # in case Prefect was imported already
        return _serve_worker(name, api_url, interval, digest)


def _serve_worker(name: str | None, api_url: str, interval: float, digest: bool) -> int:
    from cases.platform.config import get_settings

    settings = get_settings()
    # A channel nobody configured is not used: say so once, naming the setting (unless the
    # `anjian serve` that supervises this worker said it already).
    if not os.environ.get("ANJIAN_CHANNEL_WARNING_DONE"):
        try:
            from cases.platform.db import get_database
            from notifications.channels.usage import warn_unconfigured_at_startup

            warn_unconfigured_at_startup(get_database(), settings)
        except Exception as exc:  # noqa: BLE001 - never a reason not to serve
            print(f"anjian worker: could not check the notification channels: {exc}", file=sys.stderr)
    try:
        retired = retire_old_deployments()
        if retired:
            print(f"anjian worker: deleted {retired} deployment(s) an earlier version served with a process per run",
                  file=sys.stderr)
    except Exception as exc:  # never a reason not to serve
        print(f"anjian worker: could not look for old deployments: {exc}", file=sys.stderr)
    poll = delivery_poll(settings)
    print(f"anjian worker{' ' + name if name else ''}: running sweep-timers, render-documents, deliver-outbox"
          f"{', daily-digest' if digest else ''} in-process against {api_url} (sweep every {interval:g} s, "
          f"outbox checked every {poll:g} s)", file=sys.stderr, flush=True)
    serve(sweep_interval=interval, delivery_poll=poll, digest=digest, worker=default_worker_name())
    return 0


# After SIGTERM a worker has this long to finish the flow runs in hand; then it kills itself
# (e.g. when its Prefect server died with it and a run would wait on the API).
STOP_DEADLINE_SECONDS = 12.0


def _hard_exit() -> None:
    """Kill this worker (and, when it leads its own process group, anything it started)."""
    try:
        if os.getpgid(0) == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
    finally:
        os._exit(1)


def serve(*, sweep_interval: float, delivery_poll: float, digest: bool, worker: str) -> None:
    """Run the flow loop in this process until SIGTERM or Ctrl-C: the lanes finish the flow
    run in hand (within ``STOP_DEADLINE_SECONDS``, else the process kills itself). A second
    signal kills at once."""
    from workflows.loop import FlowLoop

    loop = FlowLoop(sweep_interval=sweep_interval, delivery_poll=delivery_poll, digest=digest, worker=worker)
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        if stopping.is_set():
            _hard_exit()
        stopping.set()
        watchdog = threading.Timer(STOP_DEADLINE_SECONDS, _hard_exit)
        watchdog.daemon = True
        watchdog.start()
        loop._stop.set()  # wait() returns; the lanes stop after their run in hand

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop.start()
    loop.wait()
    loop.stop(STOP_DEADLINE_SECONDS)
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
