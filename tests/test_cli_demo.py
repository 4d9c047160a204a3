"""`anjian db upgrade`, `anjian demo` and `anjian user add` as a person runs them, on both databases."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cases.ledger import services
from cases.platform.db import Database
from cases.ledger.engine import get_registry
from cases.models import Case, CaseEvent, Enterprise, User
from cases.platform.security import verify_password
from tests.conftest import BACKENDS, _create_pg_database

ANJIAN = Path(sys.executable).parent / "anjian"
# What the demo deliberately never makes (it does not refuse to recognise major hazards).
NOT_IN_DEMO = {("major_hazard", "dismissed")}


@pytest.fixture(params=BACKENDS)
def target(request, tmp_path):
    """(environment for the CLI, database URL) for a fresh, empty database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANJIAN_")}
    env["ANJIAN_DATA_DIR"] = str(tmp_path)
    if request.param == "sqlite":
        yield env, f"sqlite:///{tmp_path}/anjian.db", tmp_path
    else:
        url, drop = _create_pg_database()
        env["ANJIAN_DATABASE_URL"] = url
        try:
            yield env, url, tmp_path
        finally:
            drop()


def run(target, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env, _, cwd = target
    p = subprocess.run([str(ANJIAN), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
    if ok:
        assert p.returncode == 0, f"anjian {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.session() as s:
        return (s.scalar(select(func.count(Case.id))), s.scalar(select(func.count(CaseEvent.id))),
                s.scalar(select(func.count(User.id))), s.scalar(select(func.count(Enterprise.id))))


def test_upgrade_demo_twice_and_user_add(target):
    assert ANJIAN.exists(), ANJIAN
    _, url, tmp_path = target
    out = run(target, "db", "upgrade")
    assert "数据库已升级" in out.stdout
    out = run(target, "demo")
    assert "200 个案件" in out.stdout
    if url.startswith("sqlite"):
        assert (tmp_path / "anjian.db").exists()

    db = Database(url)
    try:
        first = counts(db)
        assert first[0] == 200
        with db.session() as s:
            cases = list(s.scalars(select(Case)))
            seen = Counter((c.kind, c.state) for c in cases)
            registry = get_registry()
            for kind in registry.kinds():
                for state in registry.latest(kind).state_names:
                    if (kind, state) not in NOT_IN_DEMO:
                        assert seen[(kind, state)] > 0, f"demo has no {kind} case in {state}"
            assert sum(n for (k, _), n in seen.items() if k == "hazard") >= 100
            # every demo history is real: it replays to the case's state, seqs 1..n
            events = {}
            for e in s.scalars(select(CaseEvent).order_by(CaseEvent.case_id, CaseEvent.seq)):
                events.setdefault(e.case_id, []).append(e)
            for c in cases:
                kind, state, last = services.replay_state(registry.get, events[c.id])
                assert (kind, state, last) == (c.kind, c.state, c.event_seq), c.number
            # demo users log in with the demo password
            users = {u.username: u for u in s.scalars(select(User))}
            for name, role in (("officer", "officer"), ("supervisor", "supervisor"), ("admin", "admin"),
                               ("enterprise", "enterprise")):
                assert users[name].role == role and users[name].active
                assert verify_password(users[name].password_hash, "demo"), name
                assert not verify_password(users[name].password_hash, "wrong")
            assert users["enterprise"].enterprise_id is not None
            assert users["officer"].jurisdiction_code == "320508"

        # a second run changes nothing
        out = run(target, "demo")
        assert "200 个案件" in out.stdout
        assert counts(db) == first
        run(target, "db", "upgrade")  # idempotent too
        assert counts(db) == first

        # user add
        out = run(target, "user", "add", "zhang3", "--role", "officer", "--jurisdiction", "320506",
                  "--name", "张三（吴中区质安站）", "--password", "s3cret-pw-7", "--email", "z3@example.gov.cn")
        assert "已创建用户 zhang3" in out.stdout
        with db.session() as s:
            u = s.scalar(select(User).where(User.username == "zhang3"))
            # display names are NFKC-normalised (cases/platform/identity.py): full-width brackets become ASCII ones
            assert (u.role, u.jurisdiction_code, u.display_name, u.email) == ("officer", "320506", "张三(吴中区质安站)",
                                                                             "z3@example.gov.cn")
            assert verify_password(u.password_hash, "s3cret-pw-7")
        again = run(target, "user", "add", "zhang3", "--role", "officer", "--jurisdiction", "320506",
                    "--password", "other-pw-77", ok=False)
        assert again.returncode == 2 and "已存在" in again.stderr
        bad = run(target, "user", "add", "li4", "--role", "officer", "--jurisdiction", "999999",
                  "--password", "s3cret-pw-7", ok=False)
        assert bad.returncode == 2 and "999999" in bad.stderr
        bad = run(target, "user", "add", "li4", "--role", "mayor", "--jurisdiction", "320506",
                  "--password", "s3cret-pw-7", ok=False)
        assert bad.returncode == 2
        assert counts(db)[2] == first[2] + 1
    finally:
        db.dispose()
