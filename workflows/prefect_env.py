"""Environment for the Prefect processes anjian runs: the embedded server, the workers serving
the flows, and the flow-run processes they spawn.

Measured facts behind these defaults: shared/notes/prefect.md. Nothing here imports Prefect,
because Prefect reads most of its settings from the environment when it is first imported.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Mapping

# Quiet a Prefect started on a closed network: no telemetry error per start, no INFO chatter
# every sweep, and no warning when a log record has no flow run to go to.
QUIET_ENV: dict[str, str] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_CLI_COLORS": "false",
}

# Variables that would point a child at another server or database than the one we mean.
_SERVER_ONLY = ("PREFECT_API_URL", "PREFECT_API_KEY")

SWEEP_FLOW = "sweep-timers"
SWEEP_DEPLOYMENT = "sweep-timers"
DIGEST_FLOW = "daily-digest"
DIGEST_DEPLOYMENT = "daily-digest"
DELIVERY_FLOW = "deliver-outbox"
RENDER_FLOW = "render-documents"
RENDER_DEPLOYMENT = "render-documents"
DIGEST_CRON = "0 8 * * *"          # 08:00 every day …
DIGEST_TIMEZONE = "Asia/Shanghai"  # … Beijing time


def apply_process_defaults(env: "os._Environ[str] | dict[str, str] | None" = None) -> None:
    """Fill in the quiet-down variables where the operator has not set them (call before
    ``import prefect``: Prefect reads them at import)."""
    env = os.environ if env is None else env
    for key, value in QUIET_ENV.items():
        env.setdefault(key, value)


def prefect_home(settings) -> Path:
    """Prefect's own state (its SQLite database, logs, local result storage) lives under the
    app's data directory, never in ~/.prefect."""
    return (Path(settings.data_dir) / "prefect").resolve()


def local_api_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}/api"


def resolve_api_url(settings, env: Mapping[str, str] | None = None) -> str:
    """Where a worker finds the Prefect API: PREFECT_API_URL, else ANJIAN_PREFECT_API_URL, else
    the embedded server's address on this machine (``anjian serve`` on ANJIAN_PREFECT_PORT)."""
    env = os.environ if env is None else env
    return (env.get("PREFECT_API_URL") or settings.prefect_api_url or local_api_url(settings.prefect_port)).rstrip("/")


def _base_env(settings, base: Mapping[str, str] | None) -> dict[str, str]:
    """The children see the settings this process runs with (which may have been given in
    code rather than read from the environment), with absolute paths."""
    env = dict(os.environ if base is None else base)
    apply_process_defaults(env)
    env["PREFECT_HOME"] = str(prefect_home(settings))
    env["ANJIAN_DATA_DIR"] = str(Path(settings.data_dir).resolve())
    env["ANJIAN_DATABASE_URL"] = settings.database_url  # "" means SQLite under ANJIAN_DATA_DIR
    env["ANJIAN_CLOCK_OFFSET"] = settings.clock_offset
    env["ANJIAN_TIMER_BATCH_SIZE"] = str(settings.timer_batch_size)
    env["ANJIAN_SWEEP_INTERVAL_SECONDS"] = str(settings.sweep_interval_seconds)
    env["PYTHONUNBUFFERED"] = "1"
    return env


# The embedded server's background services anjian does not use (each is a loop polling the
# server's database): no deployment schedules (the workers run the flows on their own schedule,
# workflows/loop.py), no late-run marking, no work pools or workers to watch (foreman), no paused or
# cancelled runs to expire or clean up, no lost leases to repossess, no automations. Kept: the event
# persister and the task-run recorder (the UI's task runs and events) and the events vacuum.
# Each can be switched back on by setting the variable (e.g. ..._TRIGGERS_ENABLED=true for automations).
UNUSED_SERVER_SERVICES: dict[str, str] = {
    f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
    for name in ("SCHEDULER", "LATE_RUNS", "FOREMAN", "PAUSE_EXPIRATIONS", "CANCELLATION_CLEANUP",
                 "REPOSSESSOR", "TRIGGERS")
}


PREFECT_DATABASE_SUFFIX = "_prefect"
_DB_URL_KEYS = ("PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL")


def prefect_database_url(settings) -> str | None:
    """The embedded server's own database when the app runs on PostgreSQL: a database named
    ``<app database>_prefect`` on the same server, same user (asyncpg, Prefect's driver); None on
    SQLite (Prefect then keeps its SQLite file under PREFECT_HOME). The app URL's query options
    (psycopg's) are not passed on: set PREFECT_SERVER_DATABASE_CONNECTION_URL for anything else."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return None
    return url.set(drivername="postgresql+asyncpg", database=url.database + PREFECT_DATABASE_SUFFIX,
                   query={}).render_as_string(hide_password=False)


def operator_database_url(env: Mapping[str, str]) -> str | None:
    return next((env[k] for k in _DB_URL_KEYS if env.get(k)), None)


def server_env(settings, *, base: Mapping[str, str] | None = None, database_url: str | None = None) -> dict[str, str]:
    """Environment of the embedded ``prefect server start``: its database is the one the operator
    configured (PREFECT_SERVER_DATABASE_CONNECTION_URL or the API_ alias), else ``database_url``
    (``prefect_database_url``: PostgreSQL next to the app's), else SQLite under PREFECT_HOME; the
    services anjian does not use switched off unless the operator set them."""
    env = _base_env(settings, base)
    for key in _SERVER_ONLY:
        env.pop(key, None)
    if database_url and not operator_database_url(env):
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    for key, value in UNUSED_SERVER_SERVICES.items():
        if key not in env and key.replace("_SERVER_", "_API_", 1) not in env:
            env[key] = value
    return env


def worker_env(settings, api_url: str, *, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker serving the flows (and so of the flow-run processes it spawns)."""
    env = _base_env(settings, base)
    env["PREFECT_API_URL"] = api_url
    return env


def default_worker_name() -> str:
    """Recorded on every rung firing (``rung_firings.worker``): which process fired it."""
    name = os.environ.get("ANJIAN_WORKER_NAME") or socket.gethostname()
    return f"{name}:{os.getpid()}"[:64]


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    """True when the Prefect API answers ``GET /api/health`` with ``true``."""
    import httpx  # here: the derive process imports this module at its cold start and never calls it

    try:
        r = httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
        return r.status_code == 200 and r.json() is True
    except (httpx.HTTPError, ValueError):
        return False


def wait_until_healthy(api_url: str, timeout: float, *, interval: float = 0.25, alive=None) -> bool:
    """Poll the health endpoint until it answers, ``timeout`` passes, or ``alive()`` says the
    process we are waiting for has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api_healthy(api_url):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval)
    return False
