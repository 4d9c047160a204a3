"""/readyz: is the service ready to do its work? Each part is checked with a bounded wait.

- database: a connection and ``SELECT 1`` (bounded by the connect and statement timeouts, and by a
  deadline of its own so a pool that is exhausted cannot hold the answer);
- prefect: the Prefect API's /health, only when ANJIAN_PREFECT_API_URL is configured (the embedded
  server of ``anjian serve`` is the worker's business);
- worker: the worker's last heartbeat. The worker records none yet, so this is reported as
  ``unknown`` and does not make the service unready.
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import httpx
from sqlalchemy import text

from cases.config import Settings
from cases.db import CONNECT_TIMEOUT, Database

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


async def readiness(db: Database, settings: Settings) -> tuple[dict[str, Any], bool]:
    timeout = (settings.db_connect_timeout_seconds or CONNECT_TIMEOUT) + 2
    checks: dict[str, Any] = {}
    tasks = {"database": check_database(db, timeout)}
    if settings.prefect_api_url:
        tasks["prefect"] = check_prefect(settings.prefect_api_url)
    for name, result in zip(tasks, await asyncio.gather(*tasks.values())):
        checks[name] = result
    checks["worker"] = {"status": "unknown", "last_heartbeat": None, "message": "工作进程没有心跳记录"}
    failing = [name for name, c in checks.items() if c["status"] == "unavailable"]
    body: dict[str, Any] = {"status": "ok" if not failing else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
        body["message"] = "服务暂不可用：" + "、".join(_LABELS.get(n, n) for n in failing) + "不可用"
    return body, not failing


_LABELS = {"database": "数据库", "prefect": "Prefect 服务"}
