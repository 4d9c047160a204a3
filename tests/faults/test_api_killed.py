"""The API process killed with SIGKILL in the middle of a stream of officers' actions.

A real ``anjian serve --no-prefect`` process serves four clients creating hazards and walking them
to 结案 as fast as it answers; it is killed (-9: no shutdown, no rollback of its own) once the
stream is well under way, with requests in flight. Afterwards every answer that said 200/201 is in
the database, and every case equals the replay of its events. A new process on the same database
then carries on where the stream stopped.
"""
from __future__ import annotations

import signal
from datetime import datetime, timezone

import pytest

from cases.platform.db import Database
from tests.conftest import BACKENDS
from tests.faults.conftest import (
    ActionStream,
    ApiProcess,
    assert_acks_durable,
    assert_every_case_replays,
    prepare_database,
    scratch_database,
    wait_for,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", BACKENDS)
def test_api_killed_mid_stream_every_ack_durable_every_case_replays(backend, tmp_path):
    url, drop = scratch_database(backend, tmp_path)
    db: Database | None = None
    servers: list[ApiProcess] = []
    try:
        db, world = prepare_database(url, datetime.now(timezone.utc))
        first = ApiProcess(url, tmp_path / "data")
        servers.append(first)
        first.start()
        with ActionStream(first.url, first.data_dir, world, n=4) as stream:
            wait_for(lambda: stream.acked() >= 40, "40 acknowledged actions", timeout=120)
            assert first.kill() == -signal.SIGKILL
        log = stream.log
        assert log.transport_errors >= 1  # the clients saw the process die
        assert log.unexpected() == {}, log.statuses
        assert_acks_durable(db, log.acks)
        cases = assert_every_case_replays(db)
        assert cases >= 8  # 40 answers, at most five per case

        # Restarted on the same database, the service takes new work and the cases stay whole.
        second = ApiProcess(url, tmp_path / "data")
        servers.append(second)
        second.start()
        with ActionStream(second.url, second.data_dir, world, n=2) as more:
            wait_for(lambda: more.acked() >= 10, "10 acknowledged actions after the restart", timeout=120)
        assert more.log.unexpected() == {} and more.log.transport_errors == 0, more.log.statuses
        assert_acks_durable(db, log.acks + more.log.acks)
        assert assert_every_case_replays(db) > cases
    finally:
        for server in servers:
            server.stop()
        if db is not None:
            db.dispose()
        drop()
