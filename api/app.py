"""The FastAPI application: JSON API under /api, OpenAPI docs at /docs."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from api.audit import install_admin_act_log
from api.errors import RETRY_AFTER_SECONDS, install_error_handlers
from api.limits import install_body_limits
from api.idempotency import install_idempotency
from api.openapi_errors import install_error_responses
from api.request_log import install_request_log
from api.responses import OrjsonResponse
from api.route_table import include_flat, install_route_index
from api.security import install_docs, install_security_headers
from api.routes import auth, campaigns, cases, complaints, deadlines, documents, evidence, machines, notifications, reference
from api.routes import analogs, inspections, self_inspection, users_admin
from api.routes.sanctions import credit as credit_routes
from api.routes.sanctions import interviews as interview_routes
from api.routes.sanctions import referrals as referral_routes
from api.routes.reports import periodic as periodic_reports
from api.routes.reports import statistics as statistics_routes
from api.routes.sanctions import patterns as pattern_routes
from api.routes.reports import accident_platform as accident_platform_routes
from api.routes.reports import rankings as ranking_routes
from cases.platform.clock import Clock, get_clock
from cases.platform.config import Settings, get_settings
from cases.platform.db import Database, get_database
from cases.platform.security import resolve_signing_key
from cases.ledger.engine import check_definitions, get_registry
from cases.ledger.rules import EFFECTS  # noqa: F401  (registers guards and effects)
import notifications.delivery.preferences as _preferences  # noqa: F401  (installs cases.issuance.outbox.channel_resolver)
import notifications.documents.store as _documents  # noqa: F401  (installs cases.issuance.documents.preflight)


def create_app(*, database: Database | None = None, clock: Clock | None = None,
               settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # No built-in key: raises SigningKeyError (before anything binds) when none is usable.
    signing_key = resolve_signing_key(settings)
    check_definitions(get_registry())
    app = FastAPI(
        title="安监 anjian",
        description="建设工程安全监管案件系统：隐患、重大事故隐患、事故、危险房屋的闭环管理。",
        version="0.1.0",
        # Served by install_docs from this app's own files: no CDN, no inline script.
        docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        default_response_class=OrjsonResponse,  # orjson for the final dumps (api/responses.py)
    )
    app.state.settings = settings
    app.state.signing_key = signing_key
    app.state.db = database or get_database()
    app.state.clock = clock or get_clock()
    install_error_handlers(app)
    # Outermost first to innermost: security headers, body size limits (before anything reads a
    # body, authentication included), the admin-act log, then Starlette's own stack.
    install_admin_act_log(app)
    install_body_limits(app)
    install_security_headers(app)
    install_idempotency(app)  # Idempotency-Key on every POST/PUT/PATCH/DELETE under /api
    if settings.effective_request_log:  # outermost: JSON lines instead of uvicorn's access log
        install_request_log(app)
    # A channel nobody configured is not used; say so once at start-up, naming the setting.
    from notifications.channels.usage import warn_unconfigured_at_startup

    warn_unconfigured_at_startup(app.state.db, settings)
    # One module a line: each domain's routes are added (and merged) as one line.
    for module in (
        auth,
        campaigns,
        cases,
        complaints,
        deadlines,
        documents,
        evidence,
        machines,
        notifications,
        reference,
        users_admin,
        inspections,
        self_inspection,
        analogs,
        credit_routes,
        interview_routes,
        referral_routes,
        periodic_reports,
        statistics_routes,
        pattern_routes,
        accident_platform_routes,
        ranking_routes,
    ):
        include_flat(app, module.router)
    install_error_responses(app)  # 400/401/403/404/409/413/422/429/503 declared on every route
    install_docs(app)

    # Liveness: the process answers. Async (runs on the event loop, needs no worker thread) and
    # never touches the database, so it answers while every thread waits on a database.
    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok", "now": app.state.clock.now()}

    # Readiness: the parts the service needs, each checked with a bounded wait; 503 naming the
    # failing ones. Also async: the database check runs on its own thread with a deadline.
    @app.get("/readyz", include_in_schema=False)
    async def readyz():
        from api.readiness import readiness

        body, ready = await readiness(app.state.db, settings, app.state.clock.now())
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers=None if ready else {"Retry-After": str(RETRY_AFTER_SECONDS)})

    # The pages for people (api/pages/): after the docs, so /static/docs keeps its own mount.
    from api.pages import install_pages

    install_pages(app)
    install_route_index(app)  # requests are matched against their path's group of routes (api/route_table.py)
    return app


def _load_shipped_checklists(app: FastAPI) -> None:
    """A shipped checklist whose YAML changed becomes a new version at start-up (cases/inspections/checklists.py)."""
    import logging

    from cases.inspections.checklists import sync_shipped

    try:
        with app.state.db.transaction() as s:
            added = sync_shipped(s, app.state.clock.now())
        if added:
            logging.getLogger("anjian").info("检查表：载入 %s 个新版本", added)
    except Exception:  # noqa: BLE001 - a database not yet migrated: `anjian db upgrade` loads them
        logging.getLogger("anjian").warning("检查表未能在启动时载入（请运行 anjian db upgrade）", exc_info=True)


def create_served_app() -> FastAPI:
    """The app as ``anjian serve`` runs it: built, then the long-lived objects frozen out of the
    garbage collector's full passes (api/gc_tuning.py; not for tests, which build many apps)."""
    from api.gc_tuning import settle

    app = create_app()
    _load_shipped_checklists(app)
    # Documents due after a commit are derived by a separate, on-demand derive process.
    from workflows.derive_launcher import shared_launcher, wake, warm

    shared_launcher()
    app.state.derive_waker = wake
    app.state.derive_warmer = warm  # signed-in requests (api/deps.py, api/pages/common.py)
    app.router.lifespan_context = _stops_the_derive_process
    settle()
    return app


@asynccontextmanager
async def _stops_the_derive_process(app: FastAPI):
    """The served app's lifespan: on shutdown the derive process finishes the pass in hand and leaves
    (workflows/derive_launcher.py ``stop``) before ``anjian serve`` stops its embedded Prefect, so
    its flow run ends against a server that is still there (else its client logs lost events and
    it leaves by its parent-gone watchdog; nothing is lost either way)."""
    yield
    from anyio import to_thread

    from workflows.derive_launcher import current_launcher

    launcher = current_launcher()
    if launcher is not None:
        await to_thread.run_sync(launcher.stop)
