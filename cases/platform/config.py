"""Settings from environment variables prefixed ``ANJIAN_`` (pydantic-settings).

Defaults make ``make run`` work on a fresh machine: SQLite and Prefect state under ./var.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANJIAN_", env_file=".env", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under data_dir
    # Bounded waits on the database (cases/platform/db.py): connecting (PostgreSQL connect_timeout) and one
    # statement (PostgreSQL statement_timeout; SQLite's wait for the write lock). 0 = no statement timeout.
    db_connect_timeout_seconds: float = 5.0
    db_statement_timeout_seconds: float = 15.0
    # Shifts the service's clock, e.g. "+12d", "-3h", "+1d2h30m"; for demos and acceptance runs.
    clock_offset: str = ""
    # "production": a signing key must be configured (ANJIAN_SECRET_KEY or ANJIAN_SECRET_KEY_FILE);
    # anything else is a development start, which generates a key once into data_dir/secret_key.
    env: Literal["development", "production"] = "development"
    # Signs bearer tokens (at least 32 bytes). No default: see cases.platform.security.resolve_signing_key.
    secret_key: str = ""
    secret_key_file: Path | None = None
    token_ttl_minutes: int = 12 * 60
    # Request bodies (api/limits.py): the cap of a JSON/form request, enforced while the body streams
    # in (413 as soon as it is passed). A route with its own cap (uploads) is named in api/limits.py.
    max_json_body_bytes: int = 1024 * 1024
    # Evidence uploads (cases/evidence/): the largest photo or PDF accepted, in bytes (413 above it).
    # The upload routes' body cap is this plus room for the multipart form's other fields.
    evidence_max_bytes: int = Field(default=15 * 1024 * 1024, ge=1024)
    # Login throttling (cases/platform/sessions.py): this many failures of one account within the window lock
    # the account for login_lockout_minutes; a client address has its own, higher limit.
    login_max_failures: int = 5
    login_max_failures_per_address: int = 30
    login_window_minutes: int = 15
    login_lockout_minutes: int = 15
    # Public complaints (cases/complaints/): per client address and hour, submissions and unknown lookup codes.
    complaint_submits_per_hour: int = 10
    complaint_bad_lookups_per_hour: int = 30
    # Password hashing (argon2) runs on its own small pool of threads, never on the request threads;
    # beyond login_hash_queue logins waiting for it, a login is answered 503 at once.
    login_hash_threads: int = 2
    login_hash_queue: int = 64
    # Idempotency-Key (api/idempotency.py): how long a key's outcome is kept and replayed, and how long
    # a request waits for an earlier one with the same key that is still running (then 409).
    idempotency_ttl_hours: float = 24.0
    idempotency_wait_seconds: float = 10.0
    # `anjian backup` / `anjian restore` on PostgreSQL: the directory holding pg_dump and pg_restore
    # (empty: the server's own version under /usr/lib/postgresql/<major>/bin, then PATH; cases/platform/backup.py).
    pg_bin_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # uvicorn's per-request access log (plain text) and the structured request log (JSON lines,
    # api/request_log.py). Unset: access log in development, structured log in production.
    access_log: bool | None = None
    request_log: bool | None = None
    # uvicorn's HTTP parser and event loop: "auto" takes httptools and uvloop when installed
    # (they are dependencies: measured faster here, docs/performance.md "Reads"), else h11/asyncio.
    uvicorn_stack: Literal["auto", "h11/asyncio", "httptools/uvloop"] = "auto"
    # Prefect: empty api url means the embedded server started by `anjian serve`.
    prefect_api_url: str = ""
    prefect_port: int = 4200
    sweep_interval_seconds: int = 10
    # The delivery lane's poll of the outbox (the fallback: a commit that writes to the outbox in the
    # process running the lanes wakes it at once, cases/issuance/wakeup.py).
    delivery_interval_seconds: float = 1.0
    timer_batch_size: int = 500
    # The derive process (workflows/derive_worker.py): documents, recipients and messages derived after
    # commit, out of the API process. Kept warm this long after its last work; recycled after this many
    # events + documents (gives WeasyPrint's heap back); its nice level; its passes as Prefect flow runs
    # (at derive_prefect_api_url, which `anjian serve` sets; else PREFECT_API_URL); rendering too.
    derive_idle_seconds: float = 60.0
    # ... and, once someone signed in has made a request (a person at work, about to commit), kept
    # up this long after their last request: an officer reading a case for minutes does not find
    # it gone when they act. An idle service (nobody signed in) keeps none.
    derive_keep_warm_seconds: float = Field(default=900.0, ge=0)
    derive_max_items: int = 2000
    derive_nice: int = 10
    derive_prefect: bool = True
    derive_prefect_api_url: str = ""
    derive_render: bool = False
    # Woken while no derive process runs, the API process derives up to this many cases itself
    # (never renders): the first messages after a quiet spell do not wait for a process to start.
    derive_inline_cases: int = Field(default=5, ge=0)
    # Authority prefixes for document numbers (文号): JSON mapping jurisdiction code -> prefix.
    doc_number_prefixes: dict[str, str] = Field(default_factory=dict)
    # Notification channels (notifications/channels/send.py); empty = channel not configured.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "anjian@localhost"
    smtp_user: str = ""
    smtp_password: str = ""
    base_url: str = "http://127.0.0.1:8000"
    webhook_url: str = ""  # json:// or jsons:// (http(s):// accepted and converted)
    wecom_webhook_key: str = ""
    dingtalk_token: str = ""
    # Outbound notification targets on loopback / private / link-local / metadata addresses are
    # refused (notifications/channels/outbound.py) unless listed here: comma-separated CIDRs or addresses,
    # optionally with :port ("10.20.0.0/16, 10.1.2.3:8080, [fd12::1]:25"), or host names
    # ("gw.gov.internal", "gw.gov.internal:8080"). Empty (default): nothing internal is allowed.
    outbound_allow: str = ""
    # Encrypts channel secrets saved in the database (notifications/channels/secrets.py): at least
    # 32 bytes. Empty: development generates data_dir/channel_key; production refuses to save secrets.
    channel_key: str = ""
    channel_key_file: Path | None = None

    @property
    def evidence_max_body_bytes(self) -> int:
        return self.evidence_max_bytes + 64 * 1024

    @property
    def effective_access_log(self) -> bool:
        return self.access_log if self.access_log is not None else self.env != "production"

    @property
    def effective_request_log(self) -> bool:
        return self.request_log if self.request_log is not None else self.env == "production"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'anjian.db').as_posix()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
