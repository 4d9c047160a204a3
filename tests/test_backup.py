"""`anjian backup` / `anjian restore` (cases/platform/backup.py) on SQLite and PostgreSQL: a world with cases, events,
rendered documents, timers and fired rungs is backed up while open, restored into an EMPTY database and
a fresh data dir, and compared row by row and file by file."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cases.ledger import services
from cases.platform.backup import BackupError, backup, data_in_database, restore
from cases.platform.config import Settings
from cases.platform.db import Database, create_scratch_postgres
from cases.clocks.sweep import fire_due_batch
from cases.models import Base, Case, CaseEvent, Document, Evidence, Timer
from notifications.documents.store import render_pending_documents
from tests.conftest import PG_URL, SECRET, complete_project
from tests.machine_paths import ServiceDriver, create_payload

ROOT = Path(__file__).resolve().parent.parent


def all_rows(db: Database) -> dict[str, list[tuple]]:
    out = {}
    with db.session() as s:
        for t in Base.metadata.sorted_tables:
            if t.name == "alembic_version":
                continue
            out[t.name] = [tuple(r) for r in s.execute(select(t).order_by(*t.primary_key.columns)).all()]
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def target(db, tmp_path):
    """An empty database of the same kind (not even migrated) and a fresh data dir."""
    if db.dialect == "sqlite":
        url, drop = f"sqlite:///{tmp_path}/restored/anjian.db", (lambda: None)
    else:
        url, drop = create_scratch_postgres(PG_URL, "anjian_restore")
    yield Settings(database_url=url, data_dir=tmp_path / "restored-data", secret_key=SECRET)
    drop()


def build_world(db, world, clock, settings) -> None:
    complete_project(db, world, clock)
    drv = ServiceDriver(db, world, clock, settings)
    drv.drive("hazard", "closed")
    drv.drive("hazard", "rectifying")
    drv.drive("major_hazard", "registered")
    drv.drive("major_hazard", "verified")  # with its 整改后 photo (evidence files under the data dir)
    drv.drive("accident", "registered")
    drv.create("dangerous_building")
    rendered = render_pending_documents(db, clock.now(), settings=settings)
    assert rendered.get("rendered", 0) >= 3, rendered
    clock.advance(timedelta(days=20))  # rungs fire: events, outbox messages, warning letters
    assert sum(fire_due_batch(db, clock.now(), limit=500).values()) > 0
    render_pending_documents(db, clock.now(), settings=settings)


def test_backup_restores_into_an_empty_database_exactly(db, world, clock, tmp_path, target):
    source = Settings(database_url=db.url, data_dir=tmp_path / "data", secret_key=SECRET)
    build_world(db, world, clock, source)
    (tmp_path / "data" / "installation_id").write_text("0123456789abcdef0123456789abcdef\n")
    (tmp_path / "data" / "secret_key").write_text("a-development-key-that-must-not-travel-0000\n")
    before = all_rows(db)
    assert before["documents"] and before["timers"] and before["case_events"] and before["rung_firings"]

    archive = tmp_path / "backups" / "anjian.tar.gz"
    summary = backup(source, archive)
    assert summary["counts"]["cases"] == len(before["cases"])
    assert os.stat(archive).st_mode & 0o777 == 0o600
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "data/installation_id" in names and not any("secret_key" in n for n in names)

    # the service goes on writing after the backup: not in the archive
    with db.transaction() as s:
        services.create_case(s, world.officer, create_payload("hazard", world, clock), now=clock.now())

    assert data_in_database(target.effective_database_url) == {}
    restore(target, archive)
    restored = Database(target.effective_database_url)
    try:
        after = all_rows(restored)
        assert after == before  # every case, event, document (hash included), timer — every row
        with restored.session() as s:
            docs = s.scalars(select(Document).where(Document.status == "rendered")).all()
            assert docs
            for doc in docs:  # every rendered document's files are there, with the recorded hash
                pdf = target.data_dir / doc.pdf_path
                assert sha256(pdf) == doc.sha256
                assert sha256(target.data_dir / doc.html_path) == sha256(source.data_dir / doc.html_path)
            evidence = s.scalars(select(Evidence)).all()
            assert evidence
            for ev in evidence:  # and every evidence file, the original with its hash
                assert sha256(target.data_dir / ev.stored_path) == ev.sha256
                assert (target.data_dir / ev.thumb_path).read_bytes() == (source.data_dir / ev.thumb_path).read_bytes()
            assert len(s.scalars(select(Timer)).all()) == len(before["timers"])
            assert s.scalar(select(CaseEvent.id).order_by(CaseEvent.id.desc()).limit(1)) == before["case_events"][-1][0]
        assert (target.data_dir / "installation_id").read_text() == "0123456789abcdef0123456789abcdef\n"
        assert not (target.data_dir / "secret_key").exists()
        # the restored database goes on: new ids follow the restored ones (sequences restored)
        with restored.transaction() as s:
            case = services.create_case(s, world.officer, create_payload("hazard", world, clock), now=clock.now())
            assert case.id > max(r[0] for r in before["cases"])
    finally:
        restored.dispose()

    # a second restore over data is refused, in Chinese, unless forced
    with pytest.raises(BackupError) as refused:
        restore(target, archive)
    assert "不是空的" in str(refused.value) and "--force" in str(refused.value)
    restore(target, archive, force=True)
    restored = Database(target.effective_database_url)
    try:
        assert all_rows(restored) == before
    finally:
        restored.dispose()


def run_cli(*args: str, settings: Settings) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ANJIAN_DATABASE_URL": settings.effective_database_url,
           "ANJIAN_DATA_DIR": str(settings.data_dir)}
    env.pop("ANJIAN_SECRET_KEY", None)
    return subprocess.run([sys.executable, "-m", "anjian.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)


def test_cli_backup_and_refused_restore(db, world, clock, tmp_path, target):
    source = Settings(database_url=db.url, data_dir=tmp_path / "data", secret_key=SECRET)
    complete_project(db, world, clock)
    ServiceDriver(db, world, clock).drive("hazard", "registered")
    render_pending_documents(db, clock.now(), settings=source)
    archive = tmp_path / "cli.tar.gz"
    done = run_cli("backup", str(archive), settings=source)
    assert done.returncode == 0, done.stderr
    assert "已备份到" in done.stdout and "1 个案件" in done.stdout
    refused = run_cli("restore", str(archive), settings=source)  # the live, non-empty database
    assert refused.returncode == 2
    assert "目标数据库不是空的" in refused.stderr and "--force" in refused.stderr
    restored = run_cli("restore", str(archive), settings=target)
    assert restored.returncode == 0, restored.stderr
    assert "已逐项核对" in restored.stdout
    with Database(target.effective_database_url).session() as s:
        assert [c.number for c in s.scalars(select(Case))] == ["320508-YH-2026-000001"]


def test_restore_refuses_a_damaged_or_foreign_archive(db, world, clock, tmp_path, target):
    source = Settings(database_url=db.url, data_dir=tmp_path / "data", secret_key=SECRET)
    ServiceDriver(db, world, clock).create("hazard")
    archive = tmp_path / "a.tar.gz"
    backup(source, archive)
    not_a_backup = tmp_path / "x.tar.gz"
    not_a_backup.write_bytes(b"hello")
    with pytest.raises(BackupError, match="无法读取备份文件"):
        restore(target, not_a_backup)
    other = Settings(database_url=("postgresql://postgres@127.0.0.1/x" if db.dialect == "sqlite"
                                   else f"sqlite:///{tmp_path}/other.db"), data_dir=tmp_path / "o")
    with pytest.raises(BackupError, match="不能跨数据库类型恢复"):
        restore(other, archive)
    assert data_in_database(target.effective_database_url) == {}  # nothing was written


def test_restore_into_a_migrated_database_with_only_reference_data(db, world, clock, tmp_path):
    """`anjian db upgrade` loads the reference data: such a database still counts as empty."""
    from tests.conftest import make_test_database

    source = Settings(database_url=db.url, data_dir=tmp_path / "data", secret_key=SECRET)
    ServiceDriver(db, world, clock).drive("hazard", "registered")
    before = all_rows(db)
    archive = tmp_path / "a.tar.gz"
    backup(source, archive)
    migrated, drop = make_test_database(db.dialect, tmp_path)
    try:
        migrated.dispose()
        assert data_in_database(migrated.url) == {}
        restore(Settings(database_url=migrated.url, data_dir=tmp_path / "r"), archive)
        assert all_rows(migrated) == before
    finally:
        migrated.dispose()
        drop()


def test_pg_tools_older_than_the_server_are_refused(tmp_path):
    """ANJIAN_PG_BIN_DIR naming a pg_dump of an older major than the server: refused, naming both."""
    from cases.platform.backup import find_pg_tool

    old = tmp_path / "bin" / "pg_dump"
    old.parent.mkdir()
    old.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    old.chmod(0o755)
    with pytest.raises(BackupError) as refused:
        find_pg_tool("pg_dump", 15, old.parent)
    assert "PostgreSQL 15" in str(refused.value) and "9" in str(refused.value) and "ANJIAN_PG_BIN_DIR" in str(refused.value)
    assert find_pg_tool("pg_dump", 9, old.parent) == (old, 9)


def test_a_checklist_an_admin_loaded_is_data_the_shipped_ones_are_not(db, world, clock, tmp_path):
    """The shipped checklists come with `anjian db upgrade` (reference data); one an admin loaded is
    the installation's own: a restore over it needs --force."""
    from cases.inspections.checklists import sync_shipped
    from cases.models import Checklist

    with db.transaction() as s:
        sync_shipped(s, clock.now())
    assert "checklists" not in data_in_database(db.url)
    with db.transaction() as s:
        s.add(Checklist(code="local", version=1, title="本市脚手架专项检查表", applies_to="project",
                        items=[{"code": "L-1", "text": "连墙件", "category": "scaffolding"}], sha256="0" * 64,
                        loaded_at=clock.now(), loaded_by_id=world.admin.id))
    assert data_in_database(db.url)["checklists"] == 1
