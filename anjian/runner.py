"""`anjian serve`: the API (uvicorn) — and, in the embedded default, Prefect and the served flows."""
from __future__ import annotations

import uvicorn

from cases.config import get_settings


def serve(*, with_prefect: bool = True, host: str | None = None, port: int | None = None) -> int:
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    supervisor = None
    if with_prefect:
        from workflows.embedded import EmbeddedPrefect

        supervisor = EmbeddedPrefect(settings)
        supervisor.start()
    try:
        from api.app import create_app

        uvicorn.run(create_app(), host=host, port=port, log_level="info")
    finally:
        if supervisor is not None:
            supervisor.stop()
    return 0
