"""A periodic report (定期报表) as printable HTML and PDF: the title block, the tables of
``cases.reports.tables`` and, for a submission, its 文号 and the reporting authority. Template
``notifications/templates/_records/periodic_report.html.j2`` (same environment and fonts as the
case documents; not a catalogue type: it belongs to no case and is sent to nobody)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from cases.reports.export import title_lines
from cases.reports.tables import sections
from notifications.rendering.render import RenderError, environment, html_to_pdf

TEMPLATE = "_records/periodic_report.html.j2"


def render_report(report: dict[str, Any], submission: dict[str, Any] | None = None, *, authority: str = "",
                  pdf: bool = True) -> tuple[str, bytes]:
    """(printable HTML, PDF bytes — b"" without ``pdf``)."""
    lines = title_lines(report, submission)
    variables = {"title": lines[0], "subtitle": lines[1:], "sections": sections(report), "authority": authority,
                 "submission": submission, "report": report,
                 "issued_at": datetime.fromisoformat(submission["submitted_at"] if submission else report["cutoff"])}
    try:
        html = environment().get_template(TEMPLATE).render(variables)
    except Exception as exc:  # a filter given a wrong value, a template error
        raise RenderError(f"统计报表生成失败：{exc}") from exc
    return html, (html_to_pdf(html) if pdf else b"")
