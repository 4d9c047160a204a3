"""Migrations go up, down and up again on both databases, and match the models exactly."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from cases.platform.db import make_engine
from cases.platform.migrate import downgrade, upgrade
from cases.models import Base
from tests.conftest import BACKENDS, _create_pg_database


@pytest.fixture(params=BACKENDS)
def fresh_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/migrations.db"
    else:
        url, drop = _create_pg_database()
        try:
            yield url
        finally:
            drop()


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def diffs(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_models_match(fresh_url):
    model_tables = set(Base.metadata.tables)
    upgrade(fresh_url)
    assert tables(fresh_url) == model_tables | {"alembic_version"}
    assert diffs(fresh_url) == []
    downgrade(fresh_url, "base")
    assert tables(fresh_url) == {"alembic_version"}
    upgrade(fresh_url)
    assert tables(fresh_url) == model_tables | {"alembic_version"}
    assert diffs(fresh_url) == []
    engine = make_engine(fresh_url)
    try:
        with engine.connect() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    from alembic.script import ScriptDirectory

    from cases.platform.migrate import alembic_config

    assert head == [ScriptDirectory.from_config(alembic_config()).get_current_head()]
