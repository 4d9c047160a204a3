"""The state diagram of a case kind as server-rendered SVG, drawn from the machine definition.

No JavaScript and nothing from a CDN: the page embeds the SVG text, styled by presentation
attributes (it prints and reads the same anywhere). The layout is layered: a depth-first walk from
the initial state (actions in definition order) finds the back-edges — transitions to a state on
the walk's own path (复查不合格, 重新打开, 退回) — and every other state goes into the column of
its longest distance from the initial state over the remaining forward transitions (states the
initial state cannot reach come last); states of one column are stacked in definition order.
Transitions are the actions with a target state, labelled with the actions' labels (several actions
between the same two states share one arrow, one label per line). A forward arrow to the next
column is straight; one that skips columns arcs above; a back-edge is dashed and red, arcing above
the first row when both of its states are there (else below the rows), a transition back into its
own state a dashed loop over its box. Internal actions (no target: comments, assignment, reports)
are not drawn. The current state is filled and says 当前状态.
"""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

from state_machines.loader import MachineDefinition

NODE_W, NODE_H = 124, 42
COL_PITCH, ROW_PITCH = 250, 100
MARGIN = 24
LOOP_SPACE = 70  # between the arcs above and the first row: loops and their labels
LANE_GAP = 30  # between two arcs
FONT, LABEL_FONT = 14, 12
LINE = "#4a5a6e"
BACK = "#b23b3b"
ACCENT = "#0b5cad"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    labels: tuple[str, ...]


def edges_of(definition: MachineDefinition) -> list[Edge]:
    """The transitions between states (actions with a target), one edge per (source, target)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for action in definition.actions:
        if action.dest is None:
            continue
        for source in action.sources:
            labels = grouped.setdefault((source, action.dest), [])
            if action.label not in labels:
                labels.append(action.label)
    return [Edge(s, t, tuple(labels)) for (s, t), labels in grouped.items()]


def back_edges(definition: MachineDefinition, edges: list[Edge]) -> set[Edge]:
    """Edges to a state on the depth-first path from the initial state (loops included)."""
    back: set[Edge] = set()
    done: set[str] = set()
    path: list[str] = []

    def walk(state: str) -> None:
        path.append(state)
        for e in edges:
            if e.source != state:
                continue
            if e.target in path:
                back.add(e)
            elif e.target not in done:
                walk(e.target)
        path.pop()
        done.add(state)

    walk(definition.initial)
    for s in definition.states:  # unreachable states: walked from themselves
        if s.name not in done:
            walk(s.name)
    return back


def columns_of(definition: MachineDefinition, edges: list[Edge], back: set[Edge]) -> dict[str, int]:
    """Each state's column: its longest distance from the initial state over forward edges."""
    forward = [e for e in edges if e not in back]
    reachable = {definition.initial}
    changed = True
    while changed:
        changed = False
        for e in forward:
            if e.source in reachable and e.target not in reachable:
                reachable.add(e.target)
                changed = True
    column = {s: 0 for s in reachable}
    for _ in range(len(definition.states)):  # forward edges form a DAG: relax until stable
        for e in forward:
            if e.source in reachable and column[e.target] < column[e.source] + 1:
                column[e.target] = column[e.source] + 1
    last = max(column.values()) + 1
    for s in definition.states:
        column.setdefault(s.name, last)
    return column


def _text_width(text: str, size: int) -> float:
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def state_diagram_svg(definition: MachineDefinition, current: str | None) -> Markup:
    """The SVG of ``definition`` with ``current`` marked (every text escaped: labels are data)."""
    edges = edges_of(definition)
    back = back_edges(definition, edges)
    column = columns_of(definition, edges, back)
    rows: dict[int, int] = {}
    row_of: dict[str, int] = {}
    for s in definition.states:
        c = column[s.name]
        row_of[s.name] = rows.get(c, 0)
        rows[c] = row_of[s.name] + 1
    loops = [e for e in edges if e.source == e.target]
    arcs = [e for e in edges if e.source != e.target and (e in back or column[e.target] - column[e.source] > 1)]
    above = [e for e in arcs if e not in back or (row_of[e.source] == 0 and row_of[e.target] == 0)]
    below = [e for e in arcs if e not in above]
    top = MARGIN + LANE_GAP * len(above) + LOOP_SPACE
    place = {s.name: (MARGIN + column[s.name] * COL_PITCH, top + row_of[s.name] * ROW_PITCH) for s in definition.states}
    ncols, nrows = max(column.values()) + 1, max(rows.values())
    width = MARGIN * 2 + (ncols - 1) * COL_PITCH + NODE_W
    rows_bottom = top + (nrows - 1) * ROW_PITCH + NODE_H
    legend_y = rows_bottom + 40 + LANE_GAP * len(below)
    height = legend_y + 16

    title = f"{definition.label}状态图" + (f"，当前状态：{definition.state(current).label}" if current else "")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}" '
           f'font-family="Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif">',
           f"<title>{escape(title)}</title>",
           '<defs>' + "".join(
               f'<marker id="sd-{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
               f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
               for name, color in (("arrow", LINE), ("back", BACK))) + '</defs>']
    labels: list[tuple[float, float, tuple[str, ...], bool]] = []  # drawn after the lines: never covered

    def path(e: Edge, d: str, is_back: bool) -> None:
        style = (f'stroke="{BACK}" stroke-dasharray="6 4" marker-end="url(#sd-back)"' if is_back
                 else f'stroke="{LINE}" marker-end="url(#sd-arrow)"')
        out.append(f'<path class="sd-edge{" back" if is_back else ""}" data-from="{escape(e.source)}" '
                   f'data-to="{escape(e.target)}" d="{d}" fill="none" stroke-width="1.5" {style}/>')

    def arc(e: Edge, x1: float, y1: float, x2: float, y2: float, apex: float) -> None:
        # A cubic whose middle (t = ½) is at ``apex``: 1/8·(y1 + y2) + 3/4·c = apex.
        c = (apex - (y1 + y2) / 8) / 0.75
        path(e, f"M{x1:.1f},{y1:.1f} C{x1:.1f},{c:.1f} {x2:.1f},{c:.1f} {x2:.1f},{y2:.1f}", e in back)
        labels.append(((x1 + x2) / 2, apex, e.labels, e in back))

    for i, e in enumerate(above):
        (sx, sy), (tx, ty) = place[e.source], place[e.target]
        arc(e, sx + NODE_W * 0.62, sy, tx + NODE_W * 0.38, ty, MARGIN + LANE_GAP * (len(above) - 1 - i) + 6)
    for i, e in enumerate(below):
        (sx, sy), (tx, ty) = place[e.source], place[e.target]
        arc(e, sx + NODE_W * 0.38, sy + NODE_H, tx + NODE_W * 0.62, ty + NODE_H, rows_bottom + 24 + LANE_GAP * i)
    for e in loops:
        x, y = place[e.source]
        x1, x2 = x + NODE_W * 0.3, x + NODE_W * 0.7
        path(e, f"M{x1:.1f},{y:.1f} C{x1:.1f},{y - 44:.1f} {x2:.1f},{y - 44:.1f} {x2:.1f},{y:.1f}", True)
        labels.append((x + NODE_W / 2, y - 33 - (len(e.labels) - 1) * (LABEL_FONT + 3), e.labels, True))
    for e in edges:
        if e in loops or e in arcs:
            continue
        (sx, sy), (tx, ty) = place[e.source], place[e.target]
        x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H / 2, tx, ty + NODE_H / 2
        path(e, f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}", e in back)
        n = len(e.labels)
        labels.append(((x1 + x2) / 2, (y1 + y2) / 2 - 8 - (n - 1) * (LABEL_FONT + 3) / 2, e.labels, e in back))

    for x, y, lines, is_back in labels:
        w = max(_text_width(t, LABEL_FONT) for t in lines) + 8
        h = len(lines) * (LABEL_FONT + 3) + 2
        out.append(f'<rect x="{x - w / 2:.1f}" y="{y - h / 2:.1f}" width="{w:.1f}" height="{h}" rx="3" '
                   f'fill="#fff" fill-opacity="0.92"/>')
        for k, text in enumerate(lines):
            ty = y - h / 2 + (k + 1) * (LABEL_FONT + 3) - 2
            out.append(f'<text class="sd-label" x="{x:.1f}" y="{ty:.1f}" text-anchor="middle" font-size="{LABEL_FONT}" '
                       f'fill="{BACK if is_back else "#1d2330"}">{escape(text)}</text>')

    for s in definition.states:
        x, y = place[s.name]
        now = s.name == current
        classes = " ".join(["sd-state"] + (["final"] if s.final else []) + (["current"] if now else []))
        current_attr = ' aria-current="true"' if now else ""
        out.append(f'<g class="{classes}" data-state="{escape(s.name)}"{current_attr}>')
        out.append(f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="8" '
                   f'fill="{ACCENT if now else "#fff"}" stroke="{ACCENT if now else LINE}" '
                   f'stroke-width="{3 if now else 1.3}"/>')
        if s.final:
            out.append(f'<rect x="{x + 3}" y="{y + 3}" width="{NODE_W - 6}" height="{NODE_H - 6}" rx="6" fill="none" '
                       f'stroke="{"#fff" if now else LINE}" stroke-width="1"/>')
        fill = "#fff" if now else "#1d2330"
        out.append(f'<text x="{x + NODE_W / 2}" y="{y + NODE_H / 2 + FONT / 2 - 2 - (6 if now else 0)}" '
                   f'text-anchor="middle" font-size="{FONT}" fill="{fill}">{escape(s.label)}</text>')
        if now:
            out.append(f'<text class="sd-now" x="{x + NODE_W / 2}" y="{y + NODE_H - 5}" text-anchor="middle" '
                       f'font-size="{LABEL_FONT - 1}" fill="#fff">当前状态</text>')
        out.append("</g>")

    y = legend_y
    out.append(f'<g class="sd-legend" font-size="{LABEL_FONT}" fill="#5f6b7a">'
               f'<path d="M{MARGIN},{y - 4} L{MARGIN + 36},{y - 4}" stroke="{LINE}" stroke-width="1.5" '
               f'marker-end="url(#sd-arrow)"/><text x="{MARGIN + 44}" y="{y}">推进</text>'
               f'<path d="M{MARGIN + 96},{y - 4} L{MARGIN + 132},{y - 4}" stroke="{BACK}" stroke-width="1.5" '
               f'stroke-dasharray="6 4" marker-end="url(#sd-back)"/><text x="{MARGIN + 140}" y="{y}">退回、重新办理</text>'
               f'<rect x="{MARGIN + 246}" y="{y - 13}" width="24" height="16" rx="3" fill="#fff" stroke="{LINE}"/>'
               f'<rect x="{MARGIN + 248}" y="{y - 11}" width="20" height="12" rx="2" fill="none" stroke="{LINE}"/>'
               f'<text x="{MARGIN + 276}" y="{y}">终结状态</text></g>')
    out.append("</svg>")
    return Markup("".join(out))
