"""`anjian serve`: the API (uvicorn) — and, in the embedded default, Prefect and the served flows."""
from __future__ import annotations

import ctypes
import os
import sys

import uvicorn

from cases.platform.config import get_settings
from cases.platform.security import KEY_FILE_NAME, SigningKeyError, resolve_signing_key


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each thread that allocates its own malloc arena (up to 8 per core), and freed
    memory stays in them: with the lanes' threads in the API process that is RSS for nothing
    (measured: docs/performance.md "Idle"). Same as MALLOC_ARENA_MAX=2, which, if set, wins."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc
        pass


def serve(*, with_prefect: bool = True, host: str | None = None, port: int | None = None,
          workers: int = 1, access_log: bool | None = None) -> int:
    settings = get_settings()
    # uvicorn's access log: on in development, off in production (the structured request log of
    # api/request_log.py instead); ANJIAN_ACCESS_LOG or --no-access-log decide otherwise.
    access_log = settings.effective_access_log if access_log is None else access_log
    stack = {} if settings.uvicorn_stack == "auto" else dict(zip(("http", "loop"), settings.uvicorn_stack.split("/")))
    # Refuse to start — before Prefect or the API binds anything — without a usable signing key.
    try:
        key = resolve_signing_key(settings)
    except SigningKeyError as exc:
        print(f"anjian serve：{exc}", file=sys.stderr)
        return 2
    if key.generated:
        print(f"anjian serve：开发模式，令牌签名密钥取自 {settings.data_dir / KEY_FILE_NAME}（自动生成）；"
              "生产环境请设置 ANJIAN_ENV=production 与 ANJIAN_SECRET_KEY 或 ANJIAN_SECRET_KEY_FILE", file=sys.stderr)
    host = host or settings.host
    port = port or settings.port
    supervisor = None
    # The derive process each API process starts (workflows/derive_launcher.py): its passes are flow
    # runs against the embedded or configured Prefect API (ANJIAN_PREFECT_API_URL: e.g. --no-prefect
    # next to `anjian worker`s); with --no-prefect and none configured, plain calls.
    if with_prefect or settings.prefect_api_url:
        from workflows.prefect_env import resolve_api_url

        os.environ.setdefault("ANJIAN_DERIVE_PREFECT_API_URL", resolve_api_url(settings))
    else:
        os.environ["ANJIAN_DERIVE_PREFECT"] = "0"
    if with_prefect:
        from workflows.embedded import EmbeddedPrefect

        # One uvicorn process: the flows' lanes run as threads of it (one interpreter, one set of
        # imports, delivery woken by the commit). Several: a worker process next to them.
        supervisor = EmbeddedPrefect(settings, in_process_flows=workers <= 1)
        if workers <= 1:
            limit_malloc_arenas()
        supervisor.start()
    try:
        if workers > 1:
            # Several processes: uvicorn imports the app factory in each worker (each gets its
            # own engine and pool); Prefect, if embedded, stays in this supervising process.
            uvicorn.run("api.app:create_served_app", factory=True, workers=workers, host=host, port=port,
                        log_level="info", access_log=access_log, **stack)
        else:
            from api.app import create_served_app

            uvicorn.run(create_served_app(), host=host, port=port, log_level="info", access_log=access_log, **stack)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0
