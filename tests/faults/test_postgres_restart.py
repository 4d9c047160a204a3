"""PostgreSQL crashed and restarted under load, the API process left running.

A private cluster (tests/faults/conftest.py ``private_postgres``: initdb into a temporary
directory, port 18550 — never the machine's server) serves a real ``anjian serve --no-prefect``
while three clients stream actions. The cluster is first crashed (``pg_ctl stop -m immediate``:
no checkpoint, crash recovery on start), kept down until the clients have seen the API answer 503,
then started; later it is restarted cleanly (``pg_ctl restart -m fast``) with the stream running.

Promised: during the outage the API answers 503 with a JSON Chinese message and ``Retry-After``
(never a 500, never a dropped connection), ``/healthz`` keeps answering; afterwards it serves again
without being restarted (same process); no acknowledged action is lost; every case replays.
"""
from __future__ import annotations

from datetime import datetime, timezone

import httpx
import psycopg
import pytest

from tests.faults.conftest import (
    ActionStream,
    ApiProcess,
    assert_acks_durable,
    assert_every_case_replays,
    prepare_database,
    wait_for,
)

pytestmark = pytest.mark.slow


def _assert_unavailable(r: httpx.Response) -> None:
    assert r.headers["content-type"].startswith("application/json"), r.text
    assert r.json() == {"error": "database_unavailable", "message": "数据库暂时不可用，请稍后重试"}
    assert int(r.headers["Retry-After"]) > 0


def test_postgres_crashed_and_restarted_under_load(private_postgres, tmp_path):
    pg = private_postgres
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute('CREATE DATABASE "anjian"')
    url = f"postgresql://postgres@127.0.0.1:{pg.port}/anjian"
    db, world = prepare_database(url, datetime.now(timezone.utc))
    api = ApiProcess(url, tmp_path / "data").start()
    pid = api.proc.pid
    try:
        with ActionStream(api.url, api.data_dir, world, n=3, persist=True) as stream:
            wait_for(lambda: stream.acked() >= 20, "20 acknowledged actions", timeout=120)

            # 1. Crash: the clients get 503s, the liveness probe still answers, readiness says why.
            pg.stop("immediate")
            seen = len(stream.log.unavailable)
            wait_for(lambda: len(stream.log.unavailable) >= seen + 3, "503 answers during the outage", timeout=120)
            assert httpx.get(f"{api.url}/healthz", timeout=30).status_code == 200
            ready = httpx.get(f"{api.url}/readyz", timeout=30)
            assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] != "ok", ready.text
            acked_down = stream.acked()
            pg.start()
            wait_for(lambda: stream.acked() >= acked_down + 20, "20 more acknowledged actions after recovery",
                     timeout=120)

            # 2. A clean restart (what an operator's `pg_ctlcluster … restart` does) mid-stream.
            acked = stream.acked()
            pg.stop("fast")
            pg.start()
            wait_for(lambda: stream.acked() >= acked + 20, "20 more acknowledged actions after the restart",
                     timeout=120)
        log = stream.log
        print(f"answers: {log.statuses}; acknowledged: {len(log.acks)}")
        assert api.proc.poll() is None and api.proc.pid == pid  # recovered by itself, never restarted
        assert log.unexpected() == {}, log.statuses  # 200/201, 409 or 503 only: never a 500
        assert log.transport_errors == 0  # the API answered every request, even with its database away
        assert log.unavailable
        for r in log.unavailable:
            _assert_unavailable(r)
        assert httpx.get(f"{api.url}/readyz", timeout=30).status_code == 200

        db.dispose()  # connections of this process died with the server too
        assert_acks_durable(db, log.acks)
        assert assert_every_case_replays(db) >= 10
    finally:
        api.stop()
        db.dispose()
