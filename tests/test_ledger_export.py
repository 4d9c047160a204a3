"""The ledger (台账): date-range filters on every list and the exports of exactly that selection
(.xlsx and CSV), over real HTTP on both databases — boundaries as Shanghai dates around midnight
UTC, dates as date cells, the frozen header, formula injection neutralised, visibility, the 422s —
and that an export reads the database in batches instead of holding every row."""
from __future__ import annotations

import csv
import io
import os
import tempfile
import tracemalloc
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import openpyxl
import pytest
from sqlalchemy import insert, text, update

from api.exports import csv_chunks
from cases.ledger.engine import get_registry
from cases.reads.export import HEADERS, export_rows, ledger_rows, ledger_statement
from cases.models import Case, Deadline
from tests.machine_paths import create_payload

UTC = timezone.utc


def _create(client, world, clock, kind: str = "hazard", **extra) -> dict:
    r = client.post("/api/cases", json=create_payload(kind, world, clock, **extra))
    assert r.status_code == 201, r.text
    return r.json()


def _ids(client, query: str) -> set[int]:
    r = client.get(f"/api/cases?page_size=200&{query}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == len(body["items"])
    return {c["id"] for c in body["items"]}


def _set_due(db, case_id: int, due_at: datetime, now: datetime) -> None:
    """The case's one live clock is due at ``due_at`` (the database keeps ``clock_due_at`` equal)."""
    with db.transaction() as s:
        s.execute(update(Deadline).where(Deadline.case_id == case_id).values(status="cancelled"))
        s.add(Deadline(case_id=case_id, key="rectification", label="整改期限", ladder="rectification",
                       policy_version=1, affects_light=True, start_at=now, amount=1, unit="calendar_day",
                       due_at=due_at, warn_at=due_at - timedelta(days=1), calendar_version="test", status="open",
                       created_at=now))


def _close(db, case_id: int, closed_at: datetime) -> None:
    with db.transaction() as s:
        s.execute(update(Deadline).where(Deadline.case_id == case_id).values(status="met"))
        s.execute(update(Case).where(Case.id == case_id).values(state="closed", closed_at=closed_at))


def _xlsx(client, query: str = ""):
    r = client.get(f"/api/cases/export.xlsx?{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    return r, wb.worksheets[0]


def _csv(client, query: str = ""):
    r = client.get(f"/api/cases/export.csv?{query}")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"\xef\xbb\xbf"), r.content[:10]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"), newline="")))
    return r, rows


def _col(name: str) -> int:
    return HEADERS.index(name)


# ---------------------------------------------------------------- date ranges


def test_date_ranges_are_inclusive_shanghai_dates(api, world, db, clock):
    off = api(world.officer)
    now = clock.now()  # 2026-11-23 09:00 Beijing
    # 发现时间 either side of midnight in Beijing (16:00 UTC)
    a = _create(off, world, clock, title="甲", found_at="2026-11-20T15:59:59+00:00")  # 11-20 23:59:59
    b = _create(off, world, clock, title="乙", found_at="2026-11-20T16:00:00+00:00")  # 11-21 00:00:00
    c = _create(off, world, clock, title="丙", found_at="2026-11-21T15:59:59+00:00")  # 11-21 23:59:59
    d = _create(off, world, clock, title="丁", found_at="2026-11-21T16:00:00+00:00")  # 11-22 00:00:00
    # just before midnight UTC: the UTC date is the 19th, the legal date the 20th
    e = _create(off, world, clock, title="戊", found_at="2026-11-19T23:30:00+00:00")  # 11-20 07:30
    assert _ids(off, "found_from=2026-11-21&found_to=2026-11-21") == {b["id"], c["id"]}
    assert _ids(off, "found_from=2026-11-21") == {b["id"], c["id"], d["id"]}
    assert _ids(off, "found_to=2026-11-20") == {a["id"], e["id"]}
    assert _ids(off, "found_from=2026-11-20&found_to=2026-11-20") == {a["id"], e["id"]}
    assert _ids(off, "found_to=2026-11-19") == set()
    assert _ids(off, "found_from=2026-11-22&found_to=2026-11-30") == {d["id"]}

    # 整改期限: day-based clocks are due at 24:00 of the last day, which belongs to that day
    _set_due(db, a["id"], datetime(2026, 11, 27, 16, 0, tzinfo=UTC), now)  # 24:00 of 11-27 → 11-27
    _set_due(db, b["id"], datetime(2026, 11, 27, 15, 59, 59, tzinfo=UTC), now)  # 11-27 23:59:59 → 11-27
    _set_due(db, c["id"], datetime(2026, 11, 27, 16, 0, 1, tzinfo=UTC), now)  # 11-28 00:00:01 → 11-28
    _set_due(db, d["id"], datetime(2026, 11, 26, 16, 0, tzinfo=UTC), now)  # 24:00 of 11-26 → 11-26
    assert _ids(off, "due_from=2026-11-27&due_to=2026-11-27") == {a["id"], b["id"]}
    assert _ids(off, "due_to=2026-11-26") == {d["id"]}
    assert _ids(off, "due_from=2026-11-28") == {c["id"]}
    got = {x["id"]: x for x in off.get("/api/cases?page_size=200").json()["items"]}
    assert len(got) == 5

    # 结案日期
    _close(db, c["id"], datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC))  # 11-22 23:59:59
    _close(db, d["id"], datetime(2026, 11, 22, 16, 0, tzinfo=UTC))  # 11-23 00:00
    assert _ids(off, "closed_from=2026-11-22&closed_to=2026-11-22") == {c["id"]}
    assert _ids(off, "closed_from=2026-11-23") == {d["id"]}
    assert _ids(off, "closed_to=2026-11-23") == {c["id"], d["id"]}
    # a closed case has no current due date
    assert _ids(off, "due_to=2026-11-30") == {a["id"], b["id"]}
    # combined with the other filters, and in the exports the same
    assert _ids(off, "found_from=2026-11-21&closed_from=2026-11-22&q=丁") == {d["id"]}

    _, ws = _xlsx(off, "due_from=2026-11-27&due_to=2026-11-27&sort=number")
    numbers = [row[0] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert numbers == sorted([a["number"], b["number"]])
    due = ws.cell(row=2, column=_col("整改期限") + 1)
    assert due.is_date and due.value == datetime(2026, 11, 27)
    _, rows = _csv(off, "closed_from=2026-11-22")
    assert [r[0] for r in rows[1:]] == [d["number"], c["number"]]  # newest first, as the list
    assert rows[1][_col("结案日期")] == "2026-11-23" and rows[2][_col("结案日期")] == "2026-11-22"
    assert rows[1][_col("状态")] == get_registry().get("hazard", 1).state("closed").label
    assert rows[1][_col("整改期限")] == "" and rows[1][_col("红黄绿灯")] == ""


@pytest.mark.parametrize("path", ["/api/cases", "/api/cases/export.xlsx", "/api/cases/export.csv"])
def test_bad_dates_are_422_naming_the_field(api, world, path):
    off = api(world.officer)
    r = off.get(f"{path}?found_from=2026-13-01")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"][0]["field"] == "found_from"
    assert "发现日期（起）" in body["message"] and "YYYY-MM-DD" in body["message"]
    r = off.get(f"{path}?closed_to=20261101&due_from=1700000000")
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"closed_to", "due_from"}
    assert "结案日期（止）" in r.json()["message"] and "整改期限（起）" in r.json()["message"]
    r = off.get(f"{path}?due_from=2026-11-30&due_to=2026-11-01")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "due_to" and "不能早于整改期限（起）" in r.json()["message"]
    r = off.get(f"{path}?found_from=0001-01-01")
    assert r.status_code == 422 and "年份" in r.json()["message"]
    r = off.get(f"{path}?sort=nonsense")
    assert r.status_code == 422 and "排序" in r.json()["message"]


# ---------------------------------------------------------------- the exports


def test_xlsx_and_csv_export_the_filtered_list(api, world, db, clock, monkeypatch):
    off = api(world.officer)
    cases = [_create(off, world, clock, title=f"{i}号楼临边防护缺失", found_at=f"2026-11-{10 + i:02d}T02:00:00+00:00")
             for i in range(6)]
    _create(off, world, clock, "accident", title="高处坠落")
    query = "kind=hazard&found_from=2026-11-11&found_to=2026-11-14&sort=-found_at"
    listed = off.get(f"/api/cases?page_size=200&{query}").json()
    assert listed["total"] == 4

    r, ws = _xlsx(off, query)
    today = clock.today().strftime("%Y%m%d")
    assert f"filename*=UTF-8''{quote(f'台账-{today}.xlsx')}" in r.headers["content-disposition"]
    assert r.headers["content-disposition"].startswith("attachment;")
    assert ws.title == "台账"
    assert [c.value for c in ws[1]] == list(HEADERS)
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["C"].width >= 30  # 标题 is wide
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert len(rows) == listed["total"]
    assert [row[0] for row in rows] == [c["number"] for c in listed["items"]]
    first = ws.cell(row=2, column=_col("发现日期") + 1)
    assert first.is_date and first.value == datetime(2026, 11, 14) and "yy" in first.number_format
    assert rows[0][_col("类型")] == listed["items"][0]["kind_label"]
    assert rows[0][_col("状态")] == listed["items"][0]["state_label"]
    assert rows[0][_col("辖区")] == listed["items"][0]["jurisdiction"]["name"]
    assert rows[0][_col("责任单位")] == world.e1.name and rows[0][_col("工程项目")] == world.p1.name
    assert rows[0][_col("标题")] == "4号楼临边防护缺失"

    # a long export (here: over 2 rows) is written row by row into a temporary file and streamed:
    # the same sheet, its length announced, no file left behind
    monkeypatch.setattr("api.exports.IN_MEMORY_ROWS", 2)
    before = set(os.listdir(tempfile.gettempdir()))
    r, streamed = _xlsx(off, query)
    assert int(r.headers["content-length"]) == len(r.content)
    assert list(streamed.iter_rows(values_only=True)) == list(ws.iter_rows(values_only=True))
    assert streamed.freeze_panes == "A2" and streamed.cell(row=2, column=_col("发现日期") + 1).is_date
    assert not [f for f in set(os.listdir(tempfile.gettempdir())) - before if f.startswith("anjian-ledger-")]
    monkeypatch.undo()

    r, table = _csv(off, query)
    assert r.headers["content-type"].startswith("text/csv")
    assert f"filename*=UTF-8''{quote(f'台账-{today}.csv')}" in r.headers["content-disposition"]
    assert table[0] == list(HEADERS)
    assert [row[0] for row in table[1:]] == [c["number"] for c in listed["items"]]
    assert table[1][_col("发现日期")] == "2026-11-14"

    # no filter: everything the officer sees, the accident too, its kind label in 类型
    _, ws = _xlsx(off)
    assert ws.max_row - 1 == off.get("/api/cases").json()["total"] == 7
    kinds = {row[_col("类型")] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert len(kinds) == 2


def test_formula_injection_is_neutralised_and_text_stays_text(api, world, db, clock):
    off = api(world.officer)
    evil = ['=HYPERLINK("http://evil.example","点我")', "+1+2", "-3+4", "@SUM(A1:A2)"]
    for i, title in enumerate(evil):
        _create(off, world, clock, title=title, location=f"{i}号楼", found_at=f"2026-11-1{i}T02:00:00+00:00")
    _create(off, world, clock, title="<script>alert(1)</script>", location="=1+1",
            found_at="2026-11-19T02:00:00+00:00")

    _, ws = _xlsx(off, "sort=found_at")
    cells = [ws.cell(row=i, column=_col("标题") + 1) for i in range(2, 7)]
    assert [c.value for c in cells] == [*evil, "<script>alert(1)</script>"]
    for c in cells[:4]:
        assert c.data_type == "s" and c.quotePrefix, (c.value, c.data_type)  # text, never a formula
    assert not cells[4].quotePrefix
    loc = ws.cell(row=6, column=_col("地点") + 1)
    assert loc.value == "=1+1" and loc.data_type == "s" and loc.quotePrefix

    _, table = _csv(off, "sort=found_at")
    assert [row[_col("标题")] for row in table[1:]] == ["'" + t for t in evil] + ["<script>alert(1)</script>"]
    assert table[5][_col("地点")] == "'=1+1"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table[1:] for cell in row)


def test_exports_follow_visibility(api, world, db, clock):
    off, off_wz, contact = api(world.officer), api(world.officer_wz), api(world.contact)
    mine = _create(off, world, clock, title="姑苏e1案件")
    other_unit = _create(off, world, clock, title="姑苏e2案件", enterprise_id=world.e2.id)
    wz = _create(off_wz, world, clock, title="吴中案件", project_id=world.p2.id, enterprise_id=world.e2.id)

    def numbers(client, fmt):
        if fmt == "xlsx":
            return {row[0] for row in _xlsx(client)[1].iter_rows(min_row=2, values_only=True)}
        return {row[0] for row in _csv(client)[1][1:]}

    for fmt in ("xlsx", "csv"):
        assert numbers(off, fmt) == {mine["number"], other_unit["number"]}
        assert numbers(off_wz, fmt) == {wz["number"]}
        assert numbers(contact, fmt) == {mine["number"]}  # only its own unit's cases
        assert numbers(api(world.supervisor), fmt) == {mine["number"], other_unit["number"], wz["number"]}
    # a filter naming what one may not see adds nothing
    r = off_wz.get("/api/cases/export.csv?jurisdiction=320508")
    assert r.status_code == 200 and len(list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))) == 1
    assert api(None).get("/api/cases/export.xlsx").status_code == 401


# ---------------------------------------------------------------- streaming


def _bulk_cases(db, world, clock, n: int) -> None:
    now = clock.now()
    rows = [dict(number=f"320508-YH-2026-{900000 + i:06d}", kind="hazard", machine_version=1, state="found",
                 jurisdiction_code="320508", origin_jurisdiction_code="320508",
                 title=f"批量导入测试案件第{i}号，临边防护缺失需整改", description="", location=f"{i}号楼",
                 enterprise_id=world.e1.id, project_id=world.p1.id, created_by_id=world.officer.id, details={},
                 found_at=now - timedelta(minutes=i), created_at=now - timedelta(minutes=i), updated_at=now,
                 version=1, event_seq=1, rectification_rounds=0, reopen_count=0, clock_live=False)
            for i in range(n)]
    with db.transaction() as s:
        for start in range(0, n, 5000):
            s.execute(insert(Case), rows[start:start + 5000])


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_export_reads_in_batches(api, world, db, clock):
    """20,000 rows through the row generator and the CSV writer: the memory traced at the peak stays a
    fraction of what the rows take when held (and on PostgreSQL a server-side cursor is open while
    the rows are read) — then the same export over HTTP has every row."""
    n = 20_000
    _bulk_cases(db, world, clock, n)
    now = clock.now()
    officer = world.officer

    def stream() -> None:
        with db.session() as s:
            size = 0
            for chunk in csv_chunks(ledger_rows(s, officer, now=now, batch=500)):
                size += len(chunk)
            assert size > n * 50

    def hold() -> None:
        with db.session() as s:
            rows = list(ledger_rows(s, officer, now=now, batch=500))
            assert len(rows) == n

    stream()  # warm: statement compilation, label caches
    streamed, held = _peak(stream), _peak(hold)
    assert streamed * 4 < held, (streamed, held)
    assert streamed < 8 * 1024 * 1024, streamed

    if db.dialect == "postgresql":
        with db.session() as s:
            rows = ledger_rows(s, officer, now=now, batch=500)
            next(rows)
            assert s.execute(text("SELECT count(*) FROM pg_cursors WHERE NOT is_holdable")).scalar() >= 1
            rows.close()

    off = api(officer)
    _, table = _csv(off, "sort=-found_at")
    assert len(table) - 1 == off.get("/api/cases").json()["total"] == n
    assert table[1][0] == "320508-YH-2026-900000" and table[-1][0] == f"320508-YH-2026-{900000 + n - 1:06d}"


def test_a_short_export_is_read_in_one_fetch_and_a_long_one_streamed(api, world, db, clock):
    """Fewer rows than the in-memory bound: one plain read, no server-side cursor (on PostgreSQL
    its DECLARE, FETCHes and CLOSE cost more than the rows of a city's ledger); more: the whole
    selection again, a batch at a time — the same rows in the same order either way."""
    off = api(world.officer)
    for i in range(5):
        _create(off, world, clock, title=f"{i}号楼临边防护缺失", found_at=f"2026-11-{10 + i:02d}T02:00:00+00:00")
    stmt = ledger_statement(world.officer, now=clock.now(), sort="-found_at")
    with db.session() as s:
        short = export_rows(s, stmt, at_once=6)
        assert isinstance(short, list) and len(short) == 5
        if db.dialect == "postgresql":
            assert s.execute(text("SELECT count(*) FROM pg_cursors WHERE NOT is_holdable")).scalar() == 0
        long = export_rows(s, stmt, at_once=5, batch=2)
        assert not isinstance(long, list)
        first = next(long)
        if db.dialect == "postgresql":
            assert s.execute(text("SELECT count(*) FROM pg_cursors WHERE NOT is_holdable")).scalar() >= 1
        assert [first, *long] == short
        assert [row[0] for row in short] == [c["number"] for c in off.get("/api/cases?sort=-found_at").json()["items"]]
