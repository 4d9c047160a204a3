"""The application bench/transitions.py serves: the real app plus one no-op POST route.

``POST /bench/noop/cases/{case_id}/actions/{action}`` goes through everything a transition's
request goes through before the endpoint's own work — uvicorn, the app's middleware (security
headers, body limit, idempotency), routing, the bearer token and the per-request user and
revocation check (``api.deps.current_user``: one SELECT), a pydantic body — and answers
``{"id": case_id, ...}`` without touching a case. Its rate is the ceiling a transition's rate is
compared with, measured on the same server process in the same run.

Served with ``python -m uvicorn bench.noop_server:create_app --factory`` (the repository root, or
a baseline copy of it, on PYTHONPATH), as ``anjian serve --no-prefect`` serves the app:
``api.app:create_served_app`` (where the tree has it; it starts the derive process's launcher in
trees that have one, workflows/derive_launcher.py), else ``api.app:create_app``.
"""
from fastapi import Body, FastAPI
from pydantic import BaseModel, ConfigDict

from api.deps import CurrentUser  # at module level: FastAPI resolves the annotation here

NOOP_PREFIX = "/bench/noop/cases"


class NoopBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    version: int | None = None


def create_app() -> FastAPI:
    import api.app

    app = getattr(api.app, "create_served_app", api.app.create_app)()

    @app.post(NOOP_PREFIX + "/{case_id}/actions/{action}", include_in_schema=False)
    def noop(case_id: int, action: str, user: CurrentUser, body: NoopBody = Body(default_factory=NoopBody)) -> dict:
        return {"id": case_id, "action": action, "version": (body.version or 0) + 1, "user": user.id}

    return app
