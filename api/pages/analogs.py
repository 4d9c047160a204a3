"""类比排查 pages: the task list (``/analog-tasks``, the filters of ``GET /api/analog-tasks``), a
supervisor's cancel form (``POST /analog-tasks/{id}/cancel``) and the cockpit's figures per district
(``/cockpit/analogs``): every figure links to the list of exactly the tasks it counts — the same
visibility and status clauses (cases/analogs/reads.py). Staff only; docs/analogs.md."""
from __future__ import annotations

from math import ceil
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request

from api.pages.common import CheckedForm, PageUser, redirect, render, safe_next
from api.pages.cockpit import SECTIONS, _chain, _root, _staff
from cases.analogs import reads, services
from cases.platform.errors import ActionNotAllowed, Forbidden, ValidationFailed

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def tasks_url(**params: Any) -> str:
    """The task list of exactly these filters."""
    return "/analog-tasks?" + urlencode({k: v for k, v in params.items() if v not in (None, "", False)})


def _flag(raw: str | None) -> bool | None:
    return {"true": True, "1": True, "on": True, "false": False, "0": False}.get((raw or "").strip().lower())


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 2**31 - 1 else None


@router.get("/analog-tasks")
def analog_task_list(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12),
                     jurisdiction_only: str | None = Query(None, max_length=8),
                     status: str | None = Query(None, max_length=64), with_findings: str | None = Query(None, max_length=8),
                     source_case_id: str | None = Query(None, max_length=12), page: str | None = Query(None, max_length=8)):
    _staff(user)
    now = request.app.state.clock.now()
    number = _int(page) or 1
    filters = {"jurisdiction": (jurisdiction or "").strip() or None, "jurisdiction_only": _flag(jurisdiction_only) or False,
               "status": reads.parse_statuses(status), "with_findings": _flag(with_findings),
               "source_case_id": _int(source_case_id)}
    with request.app.state.db.session() as s:
        result = reads.list_tasks(s, user, now, page=number, page_size=PAGE_SIZE, **filters)
        reads.mark_for(s, user, result["items"])
    return render(request, "analogs/list.html", user=user, title="类比排查任务", result=result, page=number,
                  pages=max(1, ceil(result["total"] / PAGE_SIZE)), filters=filters, statuses=reads.STATUS_LABELS,
                  status_raw=status or "")


@router.post("/analog-tasks/{task_id}/cancel")
def analog_task_cancel(task_id: int, request: Request, user: PageUser, form: CheckedForm):
    back = safe_next(str(form.get("next") or "/analog-tasks"))
    now = request.app.state.clock.now()
    try:
        with request.app.state.db.transaction() as s:
            task = services.cancel_task(s, user, task_id, str(form.get("reason") or ""), now)
            name = reads.tasks_json(s, [task], now)[0]["project"]["name"]
    except ValidationFailed as exc:
        return redirect(request, back, "未撤销：" + "；".join(f"{e.get('label')}{e.get('message')}" for e in exc.errors))
    except (ActionNotAllowed, Forbidden) as exc:
        return redirect(request, back, f"未撤销：{exc}")
    return redirect(request, back, f"已撤销对“{name}”的类比排查任务")


@router.get("/cockpit/analogs")
def cockpit_analogs(request: Request, user: PageUser, jurisdiction: str | None = Query(None, max_length=12)):
    _staff(user)
    now = request.app.state.clock.now()
    with request.app.state.db.session() as s:
        tree = _root(request, s, user, jurisdiction)
        table, totals = reads.district_figures(s, user, tree.root.code, tree.row_of, now)
    lines = []
    for place in tree.rows:
        own_level = place.code == tree.root.code and bool(tree.children)
        counts = table.get(place.code, dict.fromkeys(reads.FIGURES, 0))
        if own_level and not counts["proposed"]:
            continue
        scope = {"jurisdiction": place.code, "jurisdiction_only": "true" if own_level else None}
        lines.append({"place": place, "own_level": own_level, "drill": place.code != tree.root.code,
                      "cells": [(f, counts[f], tasks_url(**scope, **reads.figure_filters(f))) for f in reads.FIGURES]})
    total_cells = [(f, totals[f], tasks_url(jurisdiction=tree.root.code, **reads.figure_filters(f))) for f in reads.FIGURES]
    return render(request, "analogs/cockpit.html", user=user, title="类比排查", sections=SECTIONS, section="/cockpit/analogs",
                  tree=tree, chain=_chain(tree, user), lines=lines, total_cells=total_cells,
                  figure_labels=reads.FIGURE_LABELS)
