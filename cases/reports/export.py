"""A report as an .xlsx workbook (xlsxwriter, like the ledger's export): a title block with the
jurisdiction, period, cut-off and (for a submission) its 文号, then the tables of
``cases.reports.tables``. Small (a few dozen cells): written in memory."""
from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import xlsxwriter

from cases.platform.clock import to_local
from cases.reads.export import neutralise
from cases.reports.tables import sections


def _cn_instant(iso: str) -> str:
    t = to_local(datetime.fromisoformat(iso))
    return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}:{t.minute:02d}"


def title_lines(report: dict[str, Any], submission: dict[str, Any] | None = None) -> list[str]:
    lines = [f"{report['jurisdiction']['name']}建设工程质量安全监管{report['period']['label']}统计报表",
             f"统计截止时点：{_cn_instant(report['cutoff'])}（北京时间；按该时点前已记录的事件计算）"]
    if submission:
        lines.insert(1, f"文号：{submission['doc_number']}　第{submission['version']}版　报送时间：{_cn_instant(submission['submitted_at'])}"
                     + ("　（迟报%d天）" % submission["late_days"] if submission.get("late") else ""))
    return lines


def xlsx_bytes(report: dict[str, Any], submission: dict[str, Any] | None = None) -> bytes:
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    ws = wb.add_worksheet("统计报表")
    bold = wb.add_format({"bold": True})
    title = wb.add_format({"bold": True, "font_size": 14})
    head = wb.add_format({"bold": True, "border": 1, "bg_color": "#EEEEEE", "text_wrap": True})
    cell = wb.add_format({"border": 1})
    ws.set_column(0, 0, 22)
    ws.set_column(1, 11, 12)
    row = 0
    for i, line in enumerate(title_lines(report, submission)):
        ws.write_string(row, 0, line, title if i == 0 else None)
        row += 1
    for sec in sections(report):
        row += 1
        ws.write_string(row, 0, sec["title"], bold)
        row += 1
        for c, h in enumerate(sec["headers"]):
            ws.write_string(row, c, h, head)
        for values in sec["rows"]:
            row += 1
            for c, v in enumerate(values):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    ws.write_number(row, c, v, cell)
                else:
                    ws.write_string(row, c, neutralise(str(v)), cell)
        row += 1
    row += 1
    ws.write_string(row, 0, "口径：见 docs/reports.md（按期整改率与驾驶舱同口径：按案件计，任一轮逾期即计为逾期）。")
    wb.close()
    return buf.getvalue()
