"""Migration 0018_credit carries the old major-hazard deductions over as credit records, so the
score derived from the records equals the score the enterprises had (both databases)."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import text

from cases.platform.db import make_engine
from cases.platform.migrate import upgrade
from tests.test_migrations import fresh_url  # noqa: F401  (the fixture)


def test_old_deductions_become_records(fresh_url):  # noqa: F811
    upgrade(fresh_url, "0016_analogs_more")
    engine = make_engine(fresh_url)
    at = datetime(2026, 10, 31, 17, 30, tzinfo=timezone.utc)  # 1 November in Beijing
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO jurisdictions (code, name, level, path, authority_name) "
                              "VALUES ('320508', '姑苏区', 'county', '/320508', '苏州市姑苏区住房和城乡建设局')"))
            conn.execute(text("INSERT INTO enterprises (id, credit_code, name, jurisdiction_code, credit_score, created_at) "
                              "VALUES (7, '91320508MA1P111110', '老扣分企业', '320508', 90, :at)"), {"at": at})
            conn.execute(text("INSERT INTO enterprise_credit_changes (enterprise_id, case_id, delta, reason, at) "
                              "VALUES (7, NULL, -10, '320508-ZD-2026-0001 重大事故隐患挂牌督办', :at)"), {"at": at})
        upgrade(fresh_url)
        with engine.connect() as conn:
            row = conn.execute(text("SELECT cause, source_key, table_version, item_code, points, authority_code, "
                                    "valid_from, valid_until, status, summary FROM credit_records")).one()
    finally:
        engine.dispose()
    assert row[:6] == ("major_hazard", "legacy:1", 1, "XY-01", 10, "320508")
    assert str(row[6])[:10] == date(2026, 11, 1).isoformat() and str(row[7])[:10] == "2027-04-30"
    assert row[8] == "active" and "重大事故隐患挂牌督办" in row[9]
