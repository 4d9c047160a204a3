"""`anjian serve`: the API (uvicorn) — and, in the embedded default, Prefect and the served flows."""
from __future__ import annotations

import sys

import uvicorn

from cases.config import get_settings
from cases.security import SigningKeyError, resolve_signing_key


def serve(*, with_prefect: bool = True, host: str | None = None, port: int | None = None,
          workers: int = 1, access_log: bool = True) -> int:
    settings = get_settings()
    # Refuse to start — before Prefect or the API binds anything — without a usable signing key.
    try:
        resolve_signing_key(settings)
    except SigningKeyError as exc:
        print(f"anjian serve：{exc}", file=sys.stderr)
        return 2
    host = host or settings.host
    port = port or settings.port
    supervisor = None
    if with_prefect:
        from workflows.embedded import EmbeddedPrefect

        supervisor = EmbeddedPrefect(settings)
        supervisor.start()
    try:
        if workers > 1:
            # Several processes: uvicorn imports the app factory in each worker (each gets its
            # own engine and pool); Prefect, if embedded, stays in this supervising process.
            uvicorn.run("api.app:create_app", factory=True, workers=workers, host=host, port=port,
                        log_level="info", access_log=access_log)
        else:
            from api.app import create_app

            uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=access_log)
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0
