"""A report's figures as labelled tables — what the page, the .xlsx and the PDF print, in one place
(the ledger links of each figure too: ``ledger_link``)."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from cases.ledger.accident import GRADE_LABELS
from cases.ledger.engine import get_registry
from cases.reports.asof import KINDS

GRADE_ROW_LABELS = {**GRADE_LABELS, "none": "未达事故等级/未定级"}
KIND_COLUMNS = (("new", "新增"), ("closed", "办结"), ("open_end", "期末在办"), ("overdue", "逾期"),
                ("rect_due", "应按期整改"), ("rect_on_time", "按期整改"), ("rect_rate", "按期整改率（%）"))


def kind_label(kind: str) -> str:
    try:
        return get_registry().latest(kind).label
    except KeyError:
        return kind


def _value(v: Any) -> Any:
    return "—" if v is None else v


def ledger_link(jurisdiction: str, period: dict[str, str], figure: str, kind: str | None = None) -> str | None:
    """The ledger list behind a figure, where the ledger's filters select it (today's data: a live
    list, not the as-of one — the page says so)."""
    q: dict[str, str] = {"jurisdiction": jurisdiction}
    if kind:
        q["kind"] = kind
    if figure == "new":
        q.update(found_from=period["first"], found_to=period["last"])
    elif figure == "closed":
        q.update(closed_from=period["first"], closed_to=period["last"])
    elif figure in ("rect_due", "rect_on_time"):
        q.update(rectification_due_from=period["first"], rectification_due_to=period["last"])
        if figure == "rect_on_time":
            q["rectified_on_time"] = "true"
    elif figure == "overdue" and period["first"][:7] == period["last"][:7]:
        q["overdue_month"] = period["first"][:7]
    else:
        return None
    return "/ledger?" + urlencode(q)


def sections(report: dict[str, Any]) -> list[dict[str, Any]]:
    """[{"title", "headers", "rows": [[cell…]], "links": [[url|None…]]}] for a report (the ``report``
    shape of cases.reports.services)."""
    total, period, code = report["total"], report["period"], report["jurisdiction"]["code"]
    kinds = [k for k in KINDS if any(total["kinds"].get(k, {}).get(f) for f, _ in KIND_COLUMNS[:-1])]
    out = []
    rows, links = [], []
    for k in [*kinds, None]:
        fig = total["kinds"][k] if k else total["all"]
        rows.append([kind_label(k) if k else "合计", *(_value(fig[f]) for f, _ in KIND_COLUMNS)])
        links.append([None, *(ledger_link(code, period, f, k) for f, _ in KIND_COLUMNS)])
    out.append({"title": "案件办理情况（按类型）", "headers": ["类型", *(h for _, h in KIND_COLUMNS)],
                "rows": rows, "links": links})
    if len(report["rows"]) > 1:
        rows, links = [], []
        for r in report["rows"]:
            f = r["figures"]
            acc = f["accidents"]
            rows.append([r["name"], f["all"]["new"], f["all"]["closed"], f["all"]["open_end"], f["all"]["overdue"],
                         _value(f["all"]["rect_rate"]), sum(g["count"] for g in acc.values()),
                         sum(g["deaths"] for g in acc.values()), f["supervision"]["listed_major_hazard"],
                         f["supervision"]["lifted_major_hazard"], f["inspections"]["count"]])
            links.append([None, ledger_link(r["code"], period, "new"), ledger_link(r["code"], period, "closed"),
                          None, ledger_link(r["code"], period, "overdue"), None, None, None, None, None, None])
        out.append({"title": "各辖区情况", "headers": ["辖区", "新增", "办结", "期末在办", "逾期", "按期整改率（%）",
                                                   "事故起数", "死亡人数", "重大隐患挂牌", "重大隐患摘牌", "监督检查次数"],
                    "rows": rows, "links": links})
    acc = total["accidents"]
    rows = [[GRADE_ROW_LABELS[g], a["count"], a["deaths"], a["serious_injuries"], a["minor_injuries"],
             round(a["direct_loss"] / 10000, 2)] for g, a in acc.items()]
    rows.append(["合计", *(sum(a[f] for a in acc.values()) for f in ("count", "deaths", "serious_injuries", "minor_injuries")),
                 round(sum(a["direct_loss"] for a in acc.values()) / 10000, 2)])
    out.append({"title": "生产安全事故（按事故等级）", "headers": ["事故等级", "起数", "死亡人数", "重伤人数", "轻伤人数", "直接经济损失（万元）"],
                "rows": rows, "links": [[None] * 6 for _ in rows]})
    s = total["supervision"]
    out.append({"title": "挂牌督办", "headers": ["项目", "挂牌", "摘牌"],
                "rows": [["重大事故隐患", s["listed_major_hazard"], s["lifted_major_hazard"]],
                         ["全部挂牌督办事项", s["listed"], s["lifted"]]], "links": [[None] * 3, [None] * 3]})
    i = total["inspections"]
    out.append({"title": "监督检查", "headers": ["检查次数", "其中“四不两直”", "其中专项行动"],
                "rows": [[i["count"], i["unannounced"], i["campaign"]]], "links": [[None] * 3]})
    c = total.get("credit")
    if c is not None:  # definitions version 2 on (an older frozen snapshot has no credit section)
        out.append({"title": "不良行为记录与信用惩戒", "headers": ["记录条数", "扣分合计", "其中申诉", "其中撤销",
                                                         "列入曝光", "列入黑名单", "移出曝光", "移出黑名单"],
                    "rows": [[c["records"], c["points"], c["appealed"], c["withdrawn"], c["exposure_listed"],
                              c["blacklist_listed"], c["exposure_lifted"], c["blacklist_lifted"]]],
                    "links": [[None] * 8]})
    for n, sec in enumerate(out):
        sec["title"] = f"{'一二三四五六七八'[n]}、{sec['title']}"
    return out
