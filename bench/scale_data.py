"""Bulk data for bench/scale.py: N cases (30 % open), ~10 events each, their deadlines and timers,
written with PostgreSQL COPY through psycopg's copy API (``cursor.copy(...).write(...)``).

Distributions (seeded, so two runs build the same data):
- jurisdiction: Jiangsu's counties (cases/data/jiangsu-divisions.csv), each with a weight drawn once
  (0.3–3.0: big districts see ten times the cases of small ones);
- kind: hazard 72 %, dangerous_building 23 %, major_hazard 3 %, accident 2 %;
- open cases (30 %): found 10 %, registered 20 %, rectifying 60 %, verified 10 %, created in the last
  120 days; each has one running clock that lights it (red 12 %, yellow 13 %, green 75 %) and one in
  five a second one, with three timers per clock (reminder / due / overdue: pending or fired);
- closed cases (70 %): closed (dismissed 5 % of hazards), created over three years, one met clock;
- events: create, register, start_rectification, comments, verify, close as far as the state goes:
  6 per open case and 12 per closed case on average (10 per case overall).
Each case is assigned to one of its county's three officers; numbers are unique per county, kind
and year, and the counters are set so cases created afterwards get fresh numbers.
"""
from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cases.reference import DATA_DIR

KINDS = (("hazard", "YH", 0.72), ("dangerous_building", "WF", 0.23), ("major_hazard", "ZD", 0.03),
         ("accident", "SG", 0.02))
OPEN_STATES = (("found", 0.10), ("registered", 0.20), ("rectifying", 0.60), ("verified", 0.10))
PATH = ("register", "start_rectification")  # found -> registered -> rectifying
STATE_DEPTH = {"found": 0, "registered": 1, "rectifying": 2, "verified": 2}
CLOCK = {"found": ("registration", "立案期限", "officer", "officer"),
         "registered": ("rectification", "整改期限", "rectification", "enterprise"),
         "rectifying": ("rectification", "整改期限", "rectification", "enterprise"),
         "verified": ("close", "销号期限", "officer", "officer")}
TITLES = ("外脚手架连墙件缺失", "基坑临边防护缺失", "塔吊限位装置失效", "临时用电未设漏电保护", "高支模未按方案搭设",
          "房屋承重墙开裂", "自建房违规加层", "有限空间作业未检测", "消防通道堵塞", "模板支撑立杆悬空")
DL_FIXED = "\t1\t[]\t[]\tFalse\tbench\n"  # policy_version, extensions, pauses, provisional, calendar_version
SOURCES = ("inspection", "self_check", "public_report", "random_check")


def counties() -> list[tuple[str, str]]:
    rows = csv.DictReader((DATA_DIR / "jiangsu-divisions.csv").open(encoding="utf-8"))
    return [(r["code"], r["parent_code"]) for r in rows if r["level"] == "county"]


@dataclass
class Built:
    cases: int = 0
    open_cases: int = 0
    events: int = 0
    deadlines: int = 0
    timers: int = 0
    lights: dict[str, int] = field(default_factory=lambda: {"red": 0, "yellow": 0, "green": 0})
    counters: dict[tuple[str, str, int], int] = field(default_factory=dict)


def ts(t: datetime) -> str:
    return t.isoformat()


def _pick(table, r: float):
    acc = 0.0
    for row in table:
        acc += row[-1]
        if r < acc:
            return row
    return table[-1]


def generate(conn, n: int, *, now: datetime, officers: dict[str, list[int]], enterprises: dict[str, list[int]],
             open_ratio: float = 0.3, seed: int = 9, batch: int = 20_000) -> Built:
    """COPY ``n`` cases with their events, deadlines and timers into the (migrated) database."""
    rnd = random.Random(seed)
    county_list = [c for c, _ in counties()]
    weights = [rnd.uniform(0.3, 3.0) for _ in county_list]
    out = Built()
    case_id = event_id = deadline_id = timer_id = 0
    cur = conn.cursor()
    cur.execute("SET session_replication_role = replica")  # generated ids are consistent: skip FK triggers
    done = 0
    while done < n:
        m = min(batch, n - done)
        cases, events, deadlines, timers = [], [], [], []
        chosen = rnd.choices(county_list, weights, k=m)
        for county in chosen:
            case_id += 1
            kind, code, _ = _pick(KINDS, rnd.random())
            is_open = rnd.random() < open_ratio
            if is_open:
                state = _pick(OPEN_STATES, rnd.random())[0]
                created = now - timedelta(seconds=rnd.uniform(3600, 120 * 86400))
                closed_at = None
                n_events = rnd.randint(3, 9)
            else:
                state = "dismissed" if kind == "hazard" and rnd.random() < 0.05 else "closed"
                created = now - timedelta(seconds=rnd.uniform(130 * 86400, 3 * 365 * 86400))
                n_events = rnd.randint(8, 16)
                closed_at = created + timedelta(seconds=rnd.uniform(5 * 86400, 120 * 86400))
            year = created.year
            key = (county, code, year)
            seq = out.counters[key] = out.counters.get(key, 0) + 1
            number = f"{county}-{code}-{year}-{seq:06d}"
            assignee = rnd.choice(officers[county])
            enterprise = rnd.choice(enterprises[county])
            severity = ("general" if rnd.random() < 0.8 else "serious") if kind == "hazard" else "\\N"
            appraisal = rnd.choice("CD") if kind == "dangerous_building" else "\\N"
            title = f"{TITLES[case_id % len(TITLES)]}（{case_id}）"
            updated = closed_at or (created + timedelta(seconds=rnd.uniform(0, (now - created).total_seconds())))
            case_line = (
                f"{case_id}\t{number}\t{kind}\t1\t{state}\t{county}\t{county}\t{title}\t现场检查发现\t{county}某工地"
                f"\t{SOURCES[case_id % 4]}\t{severity}\t{enterprise}\t{assignee}\t{assignee}\t{{}}\t{appraisal}"
                f"\t{ts(created)}\t{ts(created)}\t{ts(updated)}\t{ts(closed_at) if closed_at else chr(92) + 'N'}"
                f"\t{n_events}\t{n_events}\t0\t0")
            # Events: the path to the state, comments in between, verify/close at the end for closed cases.
            span = ((closed_at or now) - created).total_seconds()
            steps = [("create", "\\N", "found")]
            depth = STATE_DEPTH.get(state, 2)
            cur_state = "found"
            for action, to in zip(PATH[:depth], ("registered", "rectifying")):
                steps.append((action, cur_state, to))
                cur_state = to
            if state == "dismissed":
                tail = [("dismiss", "found", "dismissed")]
                steps = steps[:1]
            elif state == "closed":
                tail = [("verify", "rectifying", "verified"), ("close", "verified", "closed")]
            elif state == "verified":
                tail = [("verify", "rectifying", "verified")]
            else:
                tail = []
            mid_state = cur_state
            while len(steps) + len(tail) < n_events:
                steps.append(("comment", mid_state, mid_state))
            steps.extend(tail)
            for i, (action, frm, to) in enumerate(steps[:n_events], 1):
                event_id += 1
                at = created + timedelta(seconds=span * (i - 1) / n_events)
                payload = '{"kind": "%s", "machine_version": 1}' % kind if i == 1 else "{}"
                events.append(f"{event_id}\t{case_id}\t{i}\t{ts(at)}\t{assignee}\t{action}\t{frm}\t{to}\t{payload}\t\\N\n")
            out.events += min(len(steps), n_events)
            # Clocks.
            if not is_open:
                deadline_id += 1
                due = created + timedelta(days=10)
                deadlines.append(f"{deadline_id}\t{case_id}\trectification\t整改期限\trectification\tenterprise\tTrue"
                                 f"\t{ts(created)}\t10\tcalendar_day\t{ts(due)}\t{due.date()}\t{ts(due - timedelta(days=2))}"
                                 f"\tmet\t{ts(created)}\t{ts(closed_at)}\t{county}{DL_FIXED}")
                cases.append(f"{case_line}\t\\N\t\\N\tf\n")  # no live clock (migration 0005_clocksum)
                continue
            out.open_cases += 1
            r = rnd.random()
            light = "red" if r < 0.12 else "yellow" if r < 0.25 else "green"
            out.lights[light] += 1
            n_clocks = 2 if rnd.random() < 0.2 else 1
            live: list[tuple[datetime, datetime]] = []
            for k in range(n_clocks):
                deadline_id += 1
                if k == 0 and light == "red":
                    due = now - timedelta(seconds=rnd.uniform(3600, 30 * 86400))
                elif k == 0 and light == "yellow":
                    due = now + timedelta(seconds=rnd.uniform(3600, 2 * 86400))
                else:
                    due = now + timedelta(seconds=rnd.uniform(3 * 86400, 60 * 86400))
                warn = due - timedelta(days=2) - timedelta(seconds=1)
                live.append((due, warn))
                dkey, label, ladder, party = CLOCK[state] if k == 0 else ("reinspection", "复查期限", "officer", "officer")
                start = max(created, due - timedelta(days=15))
                deadlines.append(f"{deadline_id}\t{case_id}\t{dkey}\t{label}\t{ladder}\t{party}\tTrue\t{ts(start)}"
                                 f"\t15\tcalendar_day\t{ts(due)}\t{due.date()}\t{ts(warn)}\topen\t{ts(start)}\t\\N\t{county}{DL_FIXED}")
                for rung, at in (("reminder", warn), ("due", due), ("overdue", due + timedelta(days=3))):
                    timer_id += 1
                    fired = at <= now
                    timers.append(f"{timer_id}\t{case_id}\t{deadline_id}\t{rung}\t{ts(at)}\t{'fired' if fired else 'pending'}"
                                  f"\t{ts(start)}\t{ts(at) if fired else chr(92) + 'N'}\t0\n")
            # The case's clock summary, as the deadlines trigger would keep it (COPY runs with triggers off).
            cases.append(f"{case_line}\t{ts(min(d for d, _ in live))}\t{ts(min(w for _, w in live))}\tt\n")
        _copy(cur, "cases (id, number, kind, machine_version, state, jurisdiction_code, origin_jurisdiction_code, title,"
                   " description, location, source, severity, enterprise_id, assignee_id, created_by_id, details,"
                   " appraisal_grade, found_at, created_at, updated_at, closed_at, version, event_seq, rectification_rounds,"
                   " reopen_count, clock_due_at, clock_warn_at, clock_live)", cases)
        _copy(cur, "case_events (id, case_id, seq, at, actor_id, action, from_state, to_state, payload, comment)", events)
        _copy(cur, "deadlines (id, case_id, key, label, ladder, party, affects_light, start_at, amount, unit,"
                   " due_at, due_date, warn_at, status, created_at, closed_at, jurisdiction_code, policy_version, extensions, pauses,"
                   " provisional, calendar_version)", deadlines)
        _copy(cur, "timers (id, case_id, deadline_id, rung, fire_at, status, created_at, fired_at, attempts)", timers)
        out.deadlines += len(deadlines)
        out.timers += len(timers)
        done += m
    out.cases = case_id
    _finish(cur, out)
    cur.execute("SET session_replication_role = DEFAULT")
    conn.commit()
    return out


def _copy(cur, target: str, lines: list[str]) -> None:
    with cur.copy(f"COPY {target} FROM STDIN") as cp:
        cp.write("".join(lines))


def _finish(cur, out: Built) -> None:
    # The open counts, as the triggers on cases would have appended them (COPY runs with triggers off).
    if cur.execute("SELECT to_regclass('case_open_counts')").fetchone()[0]:
        cur.execute("INSERT INTO case_open_counts (jurisdiction_code, kind, n) SELECT jurisdiction_code, kind, count(*)"
                    " FROM cases WHERE closed_at IS NULL GROUP BY jurisdiction_code, kind")
    for table in ("cases", "case_events", "deadlines", "timers"):
        cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with cur.copy("COPY case_number_counters (jurisdiction_code, kind_code, year, last_value) FROM STDIN") as cp:
        for (county, code, year), last in out.counters.items():
            cp.write_row((county, code, year, last))
