"""Small tables as .xlsx and CSV downloads (the accident platform export, the published enterprise
ranking): a title block, one header row of Chinese labels, the rows. Text cells a spreadsheet would
read as formulas are neutralised (cases.reads.export.neutralise), as in the ledger's exports."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence
from urllib.parse import quote

import xlsxwriter
from fastapi.responses import Response

from cases.reads.export import neutralise

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (int, float)):
        return value
    return neutralise(str(value))


def xlsx_bytes(sheet: str, title: Sequence[str], headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    ws = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    r = 0
    for line in title:
        ws.write_string(r, 0, line, bold)
        r += 1
    if title:
        r += 1
    for c, h in enumerate(headers):
        ws.write_string(r, c, h, bold)
        ws.set_column(c, c, max(8, min(40, len(h) * 2 + 2)))
    for row in rows:
        r += 1
        for c, v in enumerate(row):
            v = _cell(v)
            if isinstance(v, (int, float)):
                ws.write_number(r, c, v)
            else:
                ws.write_string(r, c, v)
    book.close()
    return buf.getvalue()


def csv_bytes(title: Sequence[str], headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM (so Excel opens the Chinese right)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    for line in title:
        w.writerow([line])
    w.writerow(headers)
    for row in rows:
        w.writerow([_cell(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def download(data: bytes, filename: str, ascii_name: str, media_type: str) -> Response:
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "Cache-Control": "no-store"})
