"""The public exposure list as an export: .xlsx (xlsxwriter) and CSV (UTF-8 with a BOM), the same
rows as the public page (cases.credit.reads.public_exposure); text cells are neutralised against
formula injection as the ledger export does (cases.reads.export)."""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from typing import Any

import xlsxwriter

from cases.reads.export import is_formula_like, neutralise

HEADERS = ("序号", "企业名称", "统一社会信用代码", "不良行为（在效记录）", "信用分", "曝光日期", "曝光期至", "作出机关")
WIDTHS = (6, 36, 22, 60, 8, 12, 12, 36)


def rows_of(items: list[dict[str, Any]]) -> list[tuple]:
    return [(i, r["enterprise_name"], r["credit_code"], r["causes"], r["score"], r["listed_on"], r["until"],
             r["authority_name"]) for i, r in enumerate(items, 1)]


def xlsx_bytes(items: list[dict[str, Any]]) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "strings_to_numbers": False})
    try:
        ws = wb.add_worksheet("曝光名单")
        header = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
        date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
        quoted = wb.add_format({"quote_prefix": True})
        for i, w in enumerate(WIDTHS):
            ws.set_column(i, i, w)
        ws.freeze_panes(1, 0)
        for i, name in enumerate(HEADERS):
            ws.write_string(0, i, name, header)
        rows = rows_of(items)
        for n, row in enumerate(rows, start=1):
            for i, value in enumerate(row):
                if isinstance(value, date):
                    ws.write_datetime(n, i, datetime.combine(value, time()), date_fmt)
                elif isinstance(value, int):
                    ws.write_number(n, i, value)
                else:
                    text = str(value or "")
                    ws.write_string(n, i, text, quoted if is_formula_like(text) else None)
        ws.autofilter(0, 0, max(len(rows), 1), len(HEADERS) - 1)
    finally:
        wb.close()
    return buf.getvalue()


def csv_bytes(items: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADERS)
    for row in rows_of(items):
        w.writerow([v.isoformat() if isinstance(v, date) else (v if isinstance(v, int) else neutralise(str(v or "")))
                    for v in row])
    return "\ufeff".encode("utf-8") + buf.getvalue().encode("utf-8")
