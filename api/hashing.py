"""Password work (argon2) off the request threads.

Each argon2 verification or hash costs ~0.1-0.8 s of CPU. Run on Starlette's default thread pool (the
one serving every sync route, e.g. /api/cases) a flood of bad logins would occupy it and starve every
other request. Login and password change are async routes that hand the argon2 work to this pool
instead: at most ``login_hash_threads`` run at once (an anyio CapacityLimiter of its own; the
threads do not count against the default limiter), up to ``login_hash_queue`` more wait their turn,
and beyond that a login is answered 503 at once ("busy, retry") instead of queueing without bound.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse

T = TypeVar("T")
BUSY_MESSAGE = "登录请求过多，请稍后重试"
BUSY_RETRY_AFTER_SECONDS = 5


class PasswordPoolBusy(Exception):
    pass


class PasswordPool:
    def __init__(self, threads: int, queue: int) -> None:
        self.threads = max(1, threads)
        self.queue = max(0, queue)
        self.limiter: anyio.CapacityLimiter | None = None  # made on the event loop, at first use
        self.pending = 0  # running + waiting (only touched on the event loop)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(self.threads)
        if self.pending >= self.threads + self.queue:
            raise PasswordPoolBusy()
        self.pending += 1
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self.limiter)
        finally:
            self.pending -= 1


def password_pool(app: FastAPI) -> PasswordPool:
    pool = getattr(app.state, "password_pool", None)
    if pool is None:
        settings = app.state.settings
        pool = app.state.password_pool = PasswordPool(settings.login_hash_threads, settings.login_hash_queue)
    return pool


def busy_response() -> JSONResponse:
    return JSONResponse({"error": "login_busy", "message": BUSY_MESSAGE}, status_code=503,
                        headers={"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)})
