"""PostgreSQL client tools for `anjian backup` / `anjian restore` (cases/platform/backup.py): finding a
``pg_dump``/``pg_restore`` recent enough for the server, connecting, running them."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from cases.platform.db import normalise_url


class BackupError(Exception):
    """Backup or restore refused or failed; the message is for the operator (Chinese)."""



_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")


def _tool_major(path: Path) -> int | None:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = _VERSION.search(out)
    return int(m.group(1)) if m else None


def find_pg_tool(name: str, min_major: int, pg_bin_dir: Path | None = None) -> tuple[Path, int]:
    """``pg_dump``/``pg_restore`` of at least ``min_major``: ANJIAN_PG_BIN_DIR if set (only there), else
    the server's own version in the Debian layout, then PATH, then any installed version, newest first."""
    if pg_bin_dir:
        candidates = [Path(pg_bin_dir) / name]
    else:
        candidates = [Path(f"/usr/lib/postgresql/{min_major}/bin/{name}")]
        if shutil.which(name):
            candidates.append(Path(shutil.which(name)))
        installed = [Path(p) for pattern in ("/usr/lib/postgresql/*/bin/", "/usr/pgsql-*/bin/", "/usr/local/pgsql/bin/")
                     for p in sorted(Path("/").glob(pattern.lstrip("/") + name))]
        candidates += sorted(installed, key=lambda p: [int(x) for x in re.findall(r"\d+", str(p))] or [0], reverse=True)
    seen: list[str] = []
    for path in dict.fromkeys(candidates):
        if not (path.is_file() and os.access(path, os.X_OK)):
            continue
        major = _tool_major(path)
        if major is not None and major >= min_major:
            return path, major
        seen.append(f"{path}（{major or '版本未知'}）")
    found = "；找到的：" + "、".join(seen) if seen else ""
    raise BackupError(f"找不到版本不低于 PostgreSQL {min_major} 的 {name}{found}。请安装 PostgreSQL {min_major}"
                      f" 或更新版本的客户端工具，或用 ANJIAN_PG_BIN_DIR 指定其所在目录")


def pg_conninfo(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it (not on a command line)."""
    u = make_url(normalise_url(url))
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    env.setdefault("PGCONNECT_TIMEOUT", "10")
    uri = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def pg_connect(url: str):
    import psycopg

    u = make_url(normalise_url(url)).set(drivername="postgresql")
    try:
        return psycopg.connect(u.render_as_string(hide_password=False), connect_timeout=10, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BackupError(f"无法连接 PostgreSQL 数据库：{str(exc).strip().splitlines()[0]}") from exc


def run_tool(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()[-2000:]
        raise BackupError(f"{what}失败（退出码 {proc.returncode}）：{detail}")
