"""`anjian backup FILE` / `anjian restore FILE`: the database and the files it refers to, in one archive.

The archive is a gzip'd tar, mode 0600 (it holds personal data):

    manifest.json          format, creation instant, dialect, Alembic revision, server and tool versions,
                           row counts per table, and the SHA-256 of every file below
    database.sqlite3       SQLite: a copy made with the online backup API (sqlite3.Connection.backup)
    database.pgdump        PostgreSQL: ``pg_dump -Fc`` run on a snapshot exported by a REPEATABLE READ
                           transaction, which also reads the counts and the document rows
    data/documents/…       every rendered document (PDF and printable HTML) the database refers to
    data/evidence/…        every evidence file (photo or PDF as uploaded, display copy, thumbnail)
    data/installation_id   the installation's id (tokens name it)

Consistency while the service runs: the database copy is one snapshot; document files are written
(and never changed or deleted: the names are content hashes) *before* their row says ``rendered`` (evidence
files before their row is inserted), so
every file the snapshot refers to already exists when the files are copied afterwards; each PDF is
checked against the hash its row records.

Not in the archive, on purpose: the token signing key (``ANJIAN_SECRET_KEY``/``_FILE`` or the development
``secret_key`` file) and any other key file (the channel-secret key): keys are backed up separately,
kept apart from the data they protect (docs/deployment.md). Nor Prefect's own state (``prefect/``: run
history and schedules, re-created by ``anjian serve``).

Restore refuses a target database that holds data (anything beyond the reference tables) unless
``force``; it refuses a backup of the other dialect, of a newer schema than this code knows, or of a
newer PostgreSQL major than the target server; then it loads the database, writes the files (checking
each hash), migrates to this code's head and checks the row counts against the manifest.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import func, inspect, select, table, text
from sqlalchemy.engine import make_url

from cases.platform.db import make_engine
from cases.models import Base
from cases.platform.pg_tools import BackupError, find_pg_tool, pg_conninfo, pg_connect, run_tool

__all__ = ["BackupError", "backup", "restore", "data_in_database", "read_manifest", "find_pg_tool"]

FORMAT = "anjian-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
DATA_PREFIX = "data/"
DATA_FILES = ("installation_id",)  # besides the documents; keys are deliberately not here
REFERENCE_TABLES = frozenset({"jurisdictions", "hazard_catalog_items", "alembic_version"})
# Tables that hold reference data shipped with the release beside data of the installation: only
# rows matching the clause are data (the checklists an admin loaded, not the shipped ones).
PARTLY_REFERENCE = {"checklists": "loaded_by_id IS NOT NULL"}
DIALECT_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _dialect(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in MEMBERS:
        raise BackupError(f"不支持的数据库类型：{name}")
    return name


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("内存数据库无法备份或恢复")
    return Path(database).resolve()


# ---------------------------------------------------------------- reading a snapshot


_TABLES_SQL = {"sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
               "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"}


def _counts_and_documents(execute, dialect: str) -> tuple[str | None, dict[str, int], list[tuple]]:
    """``execute(sql) -> rows`` on the snapshot: the Alembic revision, rows per table, rendered documents."""
    present = {r[0] for r in execute(_TABLES_SQL[dialect])}
    if "documents" not in present or "alembic_version" not in present:
        raise BackupError("数据库尚未初始化（没有 anjian 的数据表）：没有可备份的内容")
    revision = execute("SELECT version_num FROM alembic_version")
    counts = {t.name: execute(f'SELECT count(*) FROM "{t.name}"')[0][0]
              for t in Base.metadata.sorted_tables if t.name in present}
    docs = execute("SELECT pdf_path, html_path, sha256 FROM documents WHERE pdf_path IS NOT NULL OR html_path IS NOT NULL")
    files = [tuple(r) for r in docs]
    if "evidence" in present:  # evidence files (cases/evidence/storage.py): the original checked against its hash
        for stored, display, thumb, sha256 in execute(
                "SELECT stored_path, display_path, thumb_path, sha256 FROM evidence"):
            files += [(stored, display, sha256), (thumb, None, None)]
    return (revision[0][0] if revision else None), counts, files


def _snapshot_sqlite(url: str, out: Path) -> dict[str, Any]:
    path = _sqlite_path(url)
    if not path.is_file():
        raise BackupError(f"数据库文件不存在：{path}")
    src = sqlite3.connect(str(path), timeout=30)
    dst = sqlite3.connect(str(out))
    try:
        src.backup(dst)  # one consistent copy; writers go on (WAL)
        revision, counts, docs = _counts_and_documents(lambda sql: dst.execute(sql).fetchall(), "sqlite")
    finally:
        dst.close()
        src.close()
    return {"revision": revision, "counts": counts, "documents": docs, "server_version": sqlite3.sqlite_version}


def _snapshot_postgres(url: str, out: Path, pg_bin_dir: Path | None) -> dict[str, Any]:
    conn = pg_connect(url)
    try:
        server_major = conn.info.server_version // 10000
        pg_dump, dump_major = find_pg_tool("pg_dump", server_major, pg_bin_dir)
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        uri, env = pg_conninfo(url)
        # The dump and the reads below see the same snapshot, held open by this transaction.
        run_tool([str(pg_dump), "--format=custom", f"--snapshot={snapshot}", f"--file={out}", f"--dbname={uri}"],
                 env, "pg_dump 导出")
        revision, counts, docs = _counts_and_documents(lambda sql: conn.execute(sql).fetchall(), "postgresql")
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return {"revision": revision, "counts": counts, "documents": docs, "server_version": str(server_major),
            "server_major": server_major, "pg_dump": str(pg_dump), "pg_dump_major": dump_major}


# ---------------------------------------------------------------- backup


def _data_files(data_dir: Path, documents: list[tuple]) -> dict[str, Path]:
    """Relative path → file, for what the snapshot refers to; a missing or altered PDF is an error."""
    files: dict[str, Path] = {}
    problems = []
    for pdf_path, html_path, sha256 in documents:
        for rel, expected in ((pdf_path, sha256), (html_path, None)):
            if not rel:
                continue
            rel_path = PurePosixPath(rel)
            if rel_path.is_absolute() or ".." in rel_path.parts:
                problems.append(f"{rel}（路径不在数据目录内）")
                continue
            path = data_dir / rel
            if not path.is_file():
                problems.append(f"{rel}（文件不存在）")
            elif expected and _sha256_file(path) != expected:
                problems.append(f"{rel}（内容与数据库记录的 SHA-256 不符）")
            else:
                files[str(rel_path)] = path
    if problems:
        raise BackupError(f"数据目录 {data_dir} 中的文书文件有问题，未生成备份：" + "；".join(problems[:20]))
    for name in DATA_FILES:
        if (data_dir / name).is_file():
            files[name] = data_dir / name
    return files


def backup(settings, target: Path) -> dict[str, Any]:
    """Write the archive to ``target`` (atomically: a ``.part`` file renamed at the end)."""
    url = settings.effective_database_url
    dialect = _dialect(url)
    data_dir = Path(settings.data_dir).resolve()
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="anjian-backup-", dir=target.parent) as tmp:
        db_file = Path(tmp) / MEMBERS[dialect]
        if dialect == "sqlite":
            snap = _snapshot_sqlite(url, db_file)
        else:
            snap = _snapshot_postgres(url, db_file, settings.pg_bin_dir)
        files = _data_files(data_dir, snap.pop("documents"))
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dialect": dialect, "alembic_revision": snap.pop("revision"), **snap,
            "database": {"member": MEMBERS[dialect], "sha256": _sha256_file(db_file)},
            "files": {rel: _sha256_file(path) for rel, path in sorted(files.items())},
        }
        part = target.with_name(target.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(datetime.now().timestamp()), 0o600
            tar.addfile(info, io.BytesIO(data))
            tar.add(db_file, arcname=MEMBERS[dialect])
            for rel, path in sorted(files.items()):
                tar.add(path, arcname=DATA_PREFIX + rel)
            raw.flush()
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, target)
    return {"file": str(target), "dialect": dialect, "revision": manifest["alembic_revision"],
            "counts": manifest["counts"], "files": len(manifest["files"])}


# ---------------------------------------------------------------- restore


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        manifest = json.loads(tar.extractfile(MANIFEST).read().decode("utf-8"))
    except (KeyError, AttributeError, ValueError) as exc:
        raise BackupError("不是 anjian 备份文件（缺少或无法读取 manifest.json）") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"不支持的备份格式：{manifest.get('format')} {manifest.get('format_version')}")
    return manifest


def data_in_database(url: str) -> dict[str, int]:
    """Rows per table beyond the reference data (empty dict: an empty database)."""
    if _dialect(url) == "sqlite" and not _sqlite_path(url).exists():
        return {}
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names()) - REFERENCE_TABLES
            counts = {name: conn.execute(select(func.count()).select_from(table(name))
                                         .where(text(PARTLY_REFERENCE.get(name, "1 = 1")))).scalar()
                      for name in sorted(names)}
    finally:
        engine.dispose()
    return {name: n for name, n in counts.items() if n}


def _check_revision(revision: str | None) -> None:
    from alembic.script import ScriptDirectory

    from cases.platform.migrate import alembic_config

    if revision is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except Exception:
        known = None
    if known is None:
        raise BackupError(f"备份的数据库版本 {revision} 比本程序新（或未知）：请先升级 anjian 再恢复")


def restore(settings, source: Path, *, force: bool = False) -> dict[str, Any]:
    url = settings.effective_database_url
    dialect = _dialect(url)
    data_dir = Path(settings.data_dir).resolve()
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"备份文件不存在：{source}")
    try:
        tar = tarfile.open(source, mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"无法读取备份文件 {source}：{exc}") from exc
    with tar, tempfile.TemporaryDirectory(prefix="anjian-restore-") as tmp:
        manifest = read_manifest(tar)
        if manifest["dialect"] != dialect:
            raise BackupError(f"备份来自 {DIALECT_NAMES[manifest['dialect']]} 数据库，目标是 {DIALECT_NAMES[dialect]}："
                              "不能跨数据库类型恢复")
        _check_revision(manifest.get("alembic_revision"))
        present = data_in_database(url)
        if present and not force:
            summary = "、".join(f"{name} {n} 行" for name, n in list(present.items())[:6])
            raise BackupError(f"目标数据库不是空的（已有数据：{summary}）。恢复会用备份覆盖其中的全部数据；"
                              "确认要覆盖，请加 --force 重新执行")
        iid = data_dir / "installation_id"
        backed_iid = manifest["files"].get("installation_id")
        if backed_iid and iid.is_file() and _sha256_file(iid) != backed_iid and not force:
            raise BackupError(f"数据目录 {data_dir} 已有另一个安装标识（installation_id）。恢复会替换它，"
                              "此前签发的登录令牌将全部失效；确认请加 --force 重新执行")
        extracted = _extract(tar, manifest, Path(tmp))
        if dialect == "sqlite":
            _restore_sqlite(url, extracted[manifest["database"]["member"]])
        else:
            _restore_postgres(url, extracted[manifest["database"]["member"]], manifest, settings.pg_bin_dir)
        for rel in manifest["files"]:
            _place(extracted[DATA_PREFIX + rel], data_dir / rel)
    from cases.platform.migrate import upgrade

    upgrade(url)  # a backup of an older schema is brought to this code's head
    _verify(url, manifest)
    return {"dialect": dialect, "revision": manifest["alembic_revision"], "counts": manifest["counts"],
            "files": len(manifest["files"]), "created_at": manifest["created_at"]}


def _extract(tar: tarfile.TarFile, manifest: dict[str, Any], into: Path) -> dict[str, Path]:
    """The database and the files named by the manifest, each checked against its SHA-256."""
    wanted = {manifest["database"]["member"]: manifest["database"]["sha256"]}
    wanted.update({DATA_PREFIX + rel: digest for rel, digest in manifest["files"].items()})
    out: dict[str, Path] = {}
    for i, (name, digest) in enumerate(wanted.items()):
        try:
            member = tar.getmember(name)
            src = tar.extractfile(member)
        except KeyError:
            src = None
        if src is None:
            raise BackupError(f"备份文件不完整：缺少 {name}")
        path = into / f"m{i}"
        with open(path, "wb") as f:
            shutil.copyfileobj(src, f)
        if _sha256_file(path) != digest:
            raise BackupError(f"备份文件已损坏：{name} 的 SHA-256 与清单不符")
        out[name] = path
    return out


def _restore_sqlite(url: str, copy: Path) -> None:
    src = sqlite3.connect(str(copy))
    try:
        if src.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("备份中的 SQLite 数据库未通过完整性检查")
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        dst = sqlite3.connect(str(path), timeout=30)
        try:
            src.backup(dst)  # replaces every page of the target, under its write lock
        finally:
            dst.close()
    finally:
        src.close()


def _restore_postgres(url: str, dump: Path, manifest: dict[str, Any], pg_bin_dir: Path | None) -> None:
    conn = pg_connect(url)
    try:
        server_major = conn.info.server_version // 10000
    finally:
        conn.close()
    if manifest.get("server_major", 0) > server_major:
        raise BackupError(f"备份来自 PostgreSQL {manifest['server_major']}，目标服务器是 {server_major}："
                          "不能恢复到更旧的版本")
    pg_restore, _ = find_pg_tool("pg_restore", max(server_major, manifest.get("pg_dump_major", 0)), pg_bin_dir)
    uri, env = pg_conninfo(url)
    # One transaction: a restore that fails leaves the target as it was.
    run_tool([str(pg_restore), "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
              "--exit-on-error", f"--dbname={uri}", str(dump)], env, "pg_restore 导入")


def _place(src: Path, dest: Path) -> None:
    digest = _sha256_file(src)
    if dest.is_file() and _sha256_file(dest) == digest:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".restore-part")
    shutil.copyfile(src, part)
    os.replace(part, dest)


def _verify(url: str, manifest: dict[str, Any]) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            wrong = [f"{name}（备份 {n} 行，恢复后 {conn.execute(select(func.count()).select_from(table(name))).scalar()} 行）"
                     for name, n in manifest["counts"].items()
                     if name in names and conn.execute(select(func.count()).select_from(table(name))).scalar() != n]
    finally:
        engine.dispose()
    if wrong:
        raise BackupError("恢复后核对不一致：" + "；".join(wrong))
