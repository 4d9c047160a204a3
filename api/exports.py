"""The ledger (台账) exports over HTTP: .xlsx (xlsxwriter) and CSV (UTF-8 with a BOM), of exactly the
selection ``GET /api/cases`` lists with the same filters and sort, without paging. The rows come
from ``cases.reads.export.export_rows``: a short selection in one fetch, a long one a batch at a
time (docs/ledger.md "Exports").

What is held in memory: one batch of database rows (``cases.reads.export.BATCH``) and, for the
.xlsx, one row of the sheet — xlsxwriter's ``constant_memory`` mode writes each row to a temporary
file as it goes; the finished workbook is a temporary file too (unlinked at once, streamed from the
open handle in 64 KiB chunks). An .xlsx of fewer than ``IN_MEMORY_ROWS`` rows (what a city's ledger
usually is) is built in memory instead — a few MB at most, a quarter less CPU and no temporary
files. The CSV is written and sent a few hundred rows at a time.

Formula injection: a text cell starting with = + - @ tab or CR is neutralised — in the .xlsx a
string cell with Excel's quote-prefix flag (shown as typed, never evaluated, even after an edit),
in the CSV a leading single quote (``cases.reads.export.neutralise``).
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date, datetime
from typing import Any, BinaryIO, Iterable, Iterator
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import Response, StreamingResponse

from cases.reads.export import COLUMNS, HEADERS, export_rows, is_formula_like, ledger_statement, neutralise
from cases.models import User
from cases.platform.db import Database

XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA = "text/csv; charset=utf-8"
CHUNK = 64 * 1024
CSV_ROWS_PER_CHUNK = 500
CSV_ROWS_AT_ONCE = 2000  # a CSV of fewer rows is read in one fetch (cases.reads.export.export_rows)
IN_MEMORY_ROWS = 2000  # an .xlsx of fewer rows is built in memory (docstring)
EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of Excel's 1900 date system, for dates after 1900-02-28


def export_filename(today: date, ext: str) -> str:
    return f"台账-{today.strftime('%Y%m%d')}.{ext}"


def _disposition(filename: str) -> str:
    """RFC 6266 with the RFC 5987 ``filename*`` (UTF-8) and an ASCII fallback for old clients."""
    ascii_name = "ledger-" + filename.split("-", 1)[1]
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _headers(filename: str, size: int | None = None) -> dict[str, str]:
    headers = {"Content-Disposition": _disposition(filename), "Cache-Control": "no-store"}
    if size is not None:
        headers["Content-Length"] = str(size)
    return headers


# ---------------------------------------------------------------- xlsx


def write_xlsx(rows: Iterable[tuple], target: str | BinaryIO, *, in_memory: bool = False) -> int:
    """The rows as one sheet 台账 (a 类型 column tells the kinds apart) into ``target`` (a file name,
    or with ``in_memory`` a binary buffer); returns the number of data rows. Dates are date cells
    (yyyy-mm-dd), the header row is frozen and filterable, every column has a width. Without
    ``in_memory`` each row goes to a temporary file as it is written (``constant_memory``)."""
    mode = {"in_memory": True} if in_memory else {"constant_memory": True}
    wb = xlsxwriter.Workbook(target, {**mode, "strings_to_formulas": False,
                                      "strings_to_urls": False, "strings_to_numbers": False})
    try:
        ws = wb.add_worksheet("台账")
        header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                "valign": "vcenter"})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        quoted = wb.add_format({"quote_prefix": True})
        for i, col in enumerate(COLUMNS):
            ws.set_column(i, i, col.width, date_fmt if col.type == "date" else None)
        ws.freeze_panes(1, 0)
        for i, name in enumerate(HEADERS):
            ws.write_string(0, i, name, header)
        n = 0
        for n, row in enumerate(rows, start=1):
            for i, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, datetime):
                    ws.write_datetime(n, i, value, date_fmt)
                elif isinstance(value, date):  # Excel's day number, as write_datetime would make it
                    ws.write_number(n, i, (value - EXCEL_EPOCH).days, date_fmt)
                else:
                    text = str(value)
                    ws.write_string(n, i, text, quoted if is_formula_like(text) else None)
        ws.autofilter(0, 0, max(n, 1), len(COLUMNS) - 1)
    finally:
        wb.close()
    return n


def _stream_file(handle) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def xlsx_response(db: Database, user: User, *, now: datetime, today: date, sort: str,
                  filters: dict[str, Any]) -> Response:
    """Build the workbook (the filters are checked first: a 422 before any work), then send it:
    a short one from memory; a long one is built into a temporary file, then streamed — the file
    is unlinked as soon as it is open, so nothing is left behind whether or not the client reads
    it to the end."""
    stmt = ledger_statement(user, now=now, sort=sort, **filters)
    filename = export_filename(today, "xlsx")
    path = None
    try:
        with db.session() as s:
            rows = export_rows(s, stmt, at_once=IN_MEMORY_ROWS)
            if isinstance(rows, list):
                buf = io.BytesIO()
                write_xlsx(rows, buf, in_memory=True)
                return Response(buf.getvalue(), media_type=XLSX_MEDIA, headers=_headers(filename))
            fd, path = tempfile.mkstemp(prefix="anjian-ledger-", suffix=".xlsx")
            os.close(fd)
            write_xlsx(rows, path)
        handle = open(path, "rb")
    finally:
        if path is not None:
            os.unlink(path)
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(_stream_file(handle), media_type=XLSX_MEDIA, headers=_headers(filename, size))


# ---------------------------------------------------------------- csv


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(str(value))


def csv_chunks(rows: Iterator[tuple]) -> Iterator[bytes]:
    """The BOM and the header, then the rows ``CSV_ROWS_PER_CHUNK`` at a time, UTF-8 (RFC 4180:
    CRLF line ends, fields quoted when they need it)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADERS)
    yield "\ufeff".encode("utf-8") + buf.getvalue().encode("utf-8")
    buf.seek(0)
    buf.truncate()
    pending = 0
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
        pending += 1
        if pending >= CSV_ROWS_PER_CHUNK:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
            pending = 0
    if pending:
        yield buf.getvalue().encode("utf-8")


def csv_response(db: Database, user: User, *, now: datetime, today: date, sort: str,
                 filters: dict[str, Any]) -> StreamingResponse:
    """Stream the CSV while the rows are read (the session lives as long as the response body)."""
    stmt = ledger_statement(user, now=now, sort=sort, **filters)

    def body() -> Iterator[bytes]:
        with db.session() as s:
            yield from csv_chunks(export_rows(s, stmt, at_once=CSV_ROWS_AT_ONCE))

    return StreamingResponse(body(), media_type=CSV_MEDIA, headers=_headers(export_filename(today, "csv")))
