"""/readyz: is the service ready to do its work? Each part is checked with a bounded wait.

- database: a connection and ``SELECT 1`` (bounded by the connect and statement timeouts, and by a
  deadline of its own so a pool that is exhausted cannot hold the answer);
- prefect: the Prefect API's /health, only when ANJIAN_PREFECT_API_URL is configured (the embedded
  server of ``anjian serve`` is the worker's business);
- worker: the timer sweep's last heartbeat (cases/platform/heartbeat.py; every sweep run records one).
  ``ok`` when recent, ``stale`` when older than 6 sweep intervals (at least 3 minutes), ``unknown``
  when no sweep ever ran against this database. A stale or missing sweep makes the body's status
  ``degraded`` but keeps the answer 200: the API itself can serve, and a load balancer must not take
  it out of rotation because timers are late — monitoring alerts on ``degraded`` instead.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timezone
from typing import Any

import httpx
from sqlalchemy import text

from cases.platform.config import Settings
from cases.platform.db import CONNECT_TIMEOUT, Database

log = logging.getLogger("anjian.api")

PREFECT_TIMEOUT = 2.0


def _ping(db: Database) -> None:
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def check_database(db: Database, timeout: float) -> dict[str, Any]:
    # A thread of its own, not the request thread pool: /readyz answers while that pool is busy.
    loop = asyncio.get_running_loop()
    done: asyncio.Future = loop.create_future()

    def run() -> None:
        try:
            _ping(db)
            result: Any = None
        except Exception as exc:  # noqa: BLE001
            result = exc
        loop.call_soon_threadsafe(lambda: done.done() or done.set_result(result))

    threading.Thread(target=run, name="anjian-readyz-db", daemon=True).start()
    try:
        error = await asyncio.wait_for(done, timeout)
    except asyncio.TimeoutError:
        return {"status": "unavailable", "message": "数据库无应答", "detail": f"no answer within {timeout:g} s"}
    if error is not None:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        log.warning("readyz: database unavailable: %s", reason[0] if reason else type(error).__name__)
        return {"status": "unavailable", "message": "数据库暂时不可用",
                "detail": f"{type(getattr(error, 'orig', None) or error).__name__}: {reason[0] if reason else ''}"}
    return {"status": "ok"}


async def check_prefect(api_url: str) -> dict[str, Any]:
    url = api_url.rstrip("/") + "/health"
    try:
        async with httpx.AsyncClient(timeout=PREFECT_TIMEOUT) as client:
            r = await client.get(url)
        if r.status_code == 200:
            return {"status": "ok", "url": api_url}
        return {"status": "unavailable", "message": "Prefect 服务异常", "url": api_url,
                "detail": f"HTTP {r.status_code}"}
    except httpx.HTTPError as exc:
        return {"status": "unavailable", "message": "Prefect 服务无法连接", "url": api_url,
                "detail": f"{type(exc).__name__}: {exc}"}


def check_worker(db: Database, settings: Settings, now: datetime) -> dict[str, Any]:
    from cases.platform.heartbeat import SWEEP, last_beat, stale_after

    try:
        beat = last_beat(db, SWEEP)
    except Exception as exc:  # noqa: BLE001 - reported, never raised
        return {"status": "unknown", "last_heartbeat": None, "message": "无法读取工作进程心跳",
                "detail": type(exc).__name__}
    if beat is None:
        return {"status": "unknown", "last_heartbeat": None, "message": "定时流程从未运行（没有工作进程心跳）"}
    age = now - beat.last_seen_at
    info = {"last_heartbeat": beat.last_seen_at.isoformat(), "worker": beat.worker, "age_seconds": round(age.total_seconds())}
    if age > stale_after(settings.sweep_interval_seconds):
        minutes = max(1, int(age.total_seconds() // 60))
        return {"status": "stale", **info, "message": f"定时流程已{minutes}分钟没有运行，期限提醒与督办可能延迟"}
    return {"status": "ok", **info}


async def readiness(db: Database, settings: Settings, now: datetime | None = None) -> tuple[dict[str, Any], bool]:
    now = now or datetime.now(timezone.utc)
    timeout = (settings.db_connect_timeout_seconds or CONNECT_TIMEOUT) + 2
    checks: dict[str, Any] = {}
    tasks = {"database": check_database(db, timeout)}
    if settings.prefect_api_url:
        tasks["prefect"] = check_prefect(settings.prefect_api_url)
    for name, result in zip(tasks, await asyncio.gather(*tasks.values())):
        checks[name] = result
    if checks["database"]["status"] == "ok":
        checks["worker"] = await asyncio.to_thread(check_worker, db, settings, now)
    else:
        checks["worker"] = {"status": "unknown", "last_heartbeat": None, "message": "数据库不可用，无法读取工作进程心跳"}
    failing = [name for name, c in checks.items() if c["status"] == "unavailable"]
    degraded = [name for name, c in checks.items() if c["status"] in ("stale", "unknown")]
    body: dict[str, Any] = {"status": "unavailable" if failing else ("degraded" if degraded else "ok"), "checks": checks}
    if failing:
        body["failing"] = failing
        body["message"] = "服务暂不可用：" + "、".join(_LABELS.get(n, n) for n in failing) + "不可用"
    return body, not failing


_LABELS = {"database": "数据库", "prefect": "Prefect 服务"}
