"""React (issue 9, goal 2): how soon after a transition commits its messages reach the loopback
SMTP server and webhook, and how soon after its moment a due timer fires — with the flows run as
``anjian serve`` runs them (its embedded Prefect; the lanes in the API process, or in the worker
child of an older checkout).

What it does:

1. a throw-away data directory (SQLite, or ``--database-url`` for PostgreSQL), ``anjian db upgrade``,
   one officer (with an e-mail), one enterprise whose contact has an e-mail and the preference
   "every template by e-mail and webhook", ``--cases`` hazards in state ``found``;
2. an SMTP server (aiosmtpd) and an HTTP receiver on loopback, set as the app's channels
   (ANJIAN_SMTP_HOST/PORT, ANJIAN_WEBHOOK_URL, ANJIAN_OUTBOUND_ALLOW=127.0.0.1);
3. ``anjian serve`` from ``--repo``; once its flows run, ``register`` on each hazard over HTTP, one
   every ``--gap`` seconds (register issues a 整改通知书 to the enterprise contact: a webhook message
   and an e-mail carrying the PDF, plus the in-app inbox copy);
4. then moves one pending timer of each registered case to fire ``--timer-lead`` s from now, spaced
   ``--gap`` s apart, and waits until they fired and their messages left.

Printed, per channel, p50/p99/max of **commit → delivered**: the moment the HTTP answer to the
transition was read (the commit happened before it) to the message's arrival at the loopback
receiver (the webhook matched by its X-Anjian-Dedupe-Key, the e-mail by recipient and case number)
— the e-mail attaches the notice's PDF, so it waits for ``render-documents`` too; and of
**timer moment → fired** (``rung_firings.fired_at`` − ``timers.fire_at``; the goal allows 1 s plus
the sweep interval; ``fired_at`` is the sweep's start) and **fired → delivered** for the rung's own
messages. Also what the receivers
got, so a message "sent" is one that arrived.

    .venv/bin/python bench/react.py                             # this checkout, 40 cases
    .venv/bin/python bench/react.py --repo /work/main --port 19190   # another checkout (before)
    .venv/bin/python bench/react.py --sign-in --think 90 --cases 10   # an officer who reads first
    .venv/bin/python bench/react.py --prime --quiet 100 --env ANJIAN_DERIVE_KEEP_WARM_SECONDS=20 --cases 7
        # a client whose first request after a quiet spell is a transition (no derive process up)

``--sign-in`` takes the token as a person does (``POST /api/auth/token``) instead of minting it;
``--think S`` then reads the first case and waits ``S`` seconds before the first transition (an
officer reading a case longer than the derive process's idle time, ``ANJIAN_DERIVE_IDLE_SECONDS``;
a signed-in request keeps it up ``ANJIAN_DERIVE_KEEP_WARM_SECONDS``, so the read keeps it warm).
``--prime`` first registers one more case and waits for its messages (a service that has sent before:
its senders loaded); ``--quiet S`` then waits ``S`` seconds without any request, so with
``--env ANJIAN_DERIVE_KEEP_WARM_SECONDS=20`` the first transition meets no derive process at all.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(HERE))

SETTLING = 3  # the first transitions after the login meet a derive process still starting
SECRET = "bench-secret-not-for-production-0123456789"
REGISTER = {"severity": "general", "requirements": "立即停止相关部位作业，整改到位后书面回复"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the loopback SMTP server and webhook receiver got, with the wall-clock time."""

    def __init__(self) -> None:
        self.mails: list[tuple[float, set[str], str]] = []  # (arrival, recipients, subject + text)
        self.hooks: dict[str, float] = {}  # X-Anjian-Dedupe-Key -> arrival
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler
        import email
        import email.policy

        arrived = time.time()
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = str(msg.get("Subject", "")) + "".join(
            part.get_content() for part in msg.walk() if part.get_content_type() == "text/plain")
        with self.lock:
            self.mails.append((arrived, {a.lower() for a in envelope.rcpt_tos}, text))
        return "250 OK"

    def mail_for(self, address: str, case_number: str, after: float = 0.0) -> float | None:
        """Arrival of the first mail to ``address`` that names the case, after ``after``."""
        with self.lock:
            return min((t for t, to, text in self.mails
                        if t > after and address.lower() in to and case_number in text), default=None)


def start_receivers(inbox: Inbox) -> tuple[object, ThreadingHTTPServer, int, int]:
    from aiosmtpd.controller import Controller

    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get("X-Anjian-Dedupe-Key") or f"?{time.time()}"
            with inbox.lock:
                inbox.hooks.setdefault(key, time.time())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    http = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return smtp, http, smtp.port, http.server_address[1]


def seed(url: str, cases: int) -> tuple[int, int, list[int]]:
    """The bench world and ``cases`` hazards in state found; returns (officer, enterprise, case ids)."""
    from cases.platform.db import Database
    from cases.models import NotificationPreference, User
    from bench.transitions import create_cases, setup_world

    now = datetime.now(timezone.utc)
    db = Database(url)
    try:
        world = setup_world(db, now)
        with db.transaction() as s:
            s.get(User, world.officer_id).email = "officer@bench.example"
            contact = User(username="bench_contact", display_name="企业联系人", password_hash="!", role="enterprise",
                           jurisdiction_code="320508",
                           enterprise_id=world.enterprise_id, active=True, created_at=now,
                           email="contact@bench.example")
            s.add(contact)
            s.flush()
            s.add(NotificationPreference(subject=f"user:{contact.id}", user_id=contact.id, template="*",
                                         channels=["email", "webhook"], updated_at=now))
        create_cases(db, world, cases, now)
        from sqlalchemy import select
        from cases.models import Case

        with db.session() as s:
            ids = list(s.scalars(select(Case.id).order_by(Case.id)))
        return world.officer_id, world.enterprise_id, ids
    finally:
        db.dispose()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def summary(name: str, xs: list[float]) -> str:
    if not xs:
        return f"{name}: no samples"
    return (f"{name}: n={len(xs)} p50 {statistics.median(xs):.2f} s, p99 {pct(xs, 0.99):.2f} s, "
            f"max {max(xs):.2f} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repo", type=Path, default=HERE, help="checkout whose code is served (default: this one)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--port", type=int, default=19180, help="API port; the embedded Prefect gets port+1")
    p.add_argument("--database-url", default="", help="app database (default: SQLite in the data dir)")
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--gap", type=float, default=3.0, help="seconds between two transitions (and two timers)")
    p.add_argument("--timer-lead", type=float, default=15.0, help="first timer's moment, seconds after the transitions")
    p.add_argument("--sweep-interval", type=int, default=10)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--sign-in", action="store_true", help="sign in over HTTP for the token (as a person does)")
    p.add_argument("--think", type=float, default=0.0,
                   help="read the first case, then wait this long before the first transition")
    p.add_argument("--prime", action="store_true",
                   help="first register one more case and wait for its messages (a service that has sent "
                        "before: its senders loaded), then --think; that case is not counted")
    p.add_argument("--quiet", type=float, default=0.0,
                   help="wait this long without any request before the first transition (after --prime)")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="an ANJIAN_ setting for the served app, e.g. ANJIAN_DERIVE_KEEP_WARM_SECONDS=20")
    args = p.parse_args(argv)

    from sqlalchemy import create_engine, text

    from bench.idle import stop_serve

    repo = args.repo.resolve()
    data = Path(tempfile.mkdtemp(prefix="anjian-react-"))
    url = args.database_url or f"sqlite:///{data / 'anjian.db'}"
    inbox = Inbox()
    smtp, http, smtp_port, hook_port = start_receivers(inbox)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANJIAN_", "PREFECT_"))}
    env.update(PYTHONPATH=str(repo), ANJIAN_DATA_DIR=str(data), ANJIAN_PORT=str(args.port),
               ANJIAN_PREFECT_PORT=str(args.port + 1), ANJIAN_DATABASE_URL=args.database_url,
               ANJIAN_SECRET_KEY=SECRET, ANJIAN_SMTP_HOST="127.0.0.1", ANJIAN_SMTP_PORT=str(smtp_port),
               ANJIAN_WEBHOOK_URL=f"json://127.0.0.1:{hook_port}/hook", ANJIAN_OUTBOUND_ALLOW="127.0.0.1",
               ANJIAN_SWEEP_INTERVAL_SECONDS=str(args.sweep_interval), PYTHONUNBUFFERED="1")
    env.update(item.split("=", 1) for item in args.env)
    cli = [args.python, "-m", "anjian.cli"]
    r = subprocess.run(cli + ["db", "upgrade"], env=env, cwd=repo, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(r.stdout + r.stderr)
    officer_id, enterprise_id, ids = seed(url, args.cases)
    from cases.platform.config import Settings
    from cases.platform.security import issue_token, resolve_signing_key

    token = issue_token(officer_id, resolve_signing_key(Settings(secret_key=SECRET, data_dir=data)),
                        datetime.now(timezone.utc), timedelta(hours=12))
    git = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    print(f"repo {repo} @ {git.stdout.strip()[:90]}; data {data}; ports {args.port}/{args.port + 1}", flush=True)
    log_path = data / "serve.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(cli + ["serve", "--no-access-log"], env=env, cwd=repo, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    base = f"http://127.0.0.1:{args.port}"
    load_start = os.getloadavg()
    committed: dict[int, float] = {}
    try:
        # Ready: the API answers and the flows have run once (an idle sweep beats the heartbeat).
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with engine.connect() as c:
                    if c.scalar(text("SELECT count(*) FROM worker_heartbeats")):
                        break
            except Exception:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit(f"the flows never ran; see {log_path}")
        if args.sign_in:
            form = urllib.parse.urlencode({"username": "bench_officer", "password": "bench"}).encode()
            req = urllib.request.Request(f"{base}/api/auth/token", data=form, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                token = json.loads(resp.read())["access_token"]
        def register(case_id: int) -> None:
            body = json.dumps({"version": 1, "enterprise_id": enterprise_id, **REGISTER}).encode()
            req = urllib.request.Request(f"{base}/api/cases/{case_id}/actions/register", data=body, method="POST",
                                         headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()

        if args.prime:
            prime_id = ids.pop()
            register(prime_id)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with engine.connect() as c:
                    left = c.execute(text("SELECT count(*), count(*) FILTER (WHERE status IN ('pending', 'sending')) "
                                          "FROM outbox_messages WHERE case_id = :c"), {"c": prime_id}).one()
                if left[0] and not left[1]:
                    break
                time.sleep(0.5)
            else:
                raise SystemExit(f"case {prime_id}'s messages did not leave within 120 s; see {log_path}")
            print(f"primed: case {prime_id} registered and its messages sent", flush=True)
        if args.quiet:
            print(f"quiet for {args.quiet:g} s (no request) before the first transition", flush=True)
            time.sleep(args.quiet)
        if args.think:
            req = urllib.request.Request(f"{base}/api/cases/{ids[0]}", headers={"Authorization": f"Bearer {token}"})
            with urllib.request.urlopen(req, timeout=60) as resp:
                resp.read()
            print(f"reading case {ids[0]} for {args.think:g} s before acting", flush=True)
            time.sleep(args.think)
        for case_id in ids:
            register(case_id)
            committed[case_id] = time.time()
            time.sleep(args.gap)
        # Timers: one pending timer per case, moved to fire at a known moment.
        first = datetime.now(timezone.utc) + timedelta(seconds=args.timer_lead)
        moved = []
        with engine.begin() as c:
            for i, case_id in enumerate(ids):
                tid = c.scalar(text("SELECT id FROM timers WHERE case_id = :c AND status = 'pending' ORDER BY fire_at "
                                    "LIMIT 1"), {"c": case_id})
                if tid is not None:
                    c.execute(text("UPDATE timers SET fire_at = :t WHERE id = :i"),
                              {"t": first + timedelta(seconds=i * args.gap), "i": tid})
                    moved.append(tid)
        # Wait: every timer moved fired, every message of these cases left (or failed).
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            with engine.connect() as c:
                pending_timers = c.scalar(text("SELECT count(*) FROM timers WHERE status = 'pending' AND fire_at <= "
                                               ":t"), {"t": first + timedelta(seconds=len(ids) * args.gap)})
                waiting = c.scalar(text("SELECT count(*) FROM outbox_messages WHERE status IN ('pending', 'sending')"))
            if not pending_timers and not waiting and datetime.now(timezone.utc) > first + timedelta(
                    seconds=len(ids) * args.gap):
                break
            time.sleep(1)
        load_end = os.getloadavg()
        with engine.connect() as c:
            rows = c.execute(text("SELECT o.case_id, o.channel, o.status, o.recipient_address, k.number, o.dedupe_key "
                                  "FROM outbox_messages o JOIN cases k ON k.id = o.case_id "
                                  "WHERE o.case_id IN (%s)" % ",".join(map(str, ids)))).all()
            first_case = min(committed, key=committed.get) if committed else 0
            first_docs = c.execute(text("SELECT doc_type, issued_at, rendered_at FROM documents WHERE case_id = :c "
                                        "ORDER BY id"), {"c": first_case}).all()
            first_msgs = c.execute(text("SELECT o.channel, o.recipient_address, o.created_at, o.sent_at, o.dedupe_key, "
                                        "k.number FROM outbox_messages o JOIN cases k ON k.id = o.case_id "
                                        "WHERE o.case_id = :c AND o.dedupe_key NOT LIKE 'rung:%' ORDER BY o.id"),
                                   {"c": first_case}).all()
            fired = c.execute(text("SELECT t.id, t.fire_at, f.fired_at, f.deadline_id, f.rung FROM timers t JOIN "
                                   "rung_firings f ON f.deadline_id = t.deadline_id AND f.rung = t.rung "
                                   "WHERE t.id IN (%s)" % (",".join(map(str, moved)) or "0"))).all()
    finally:
        stop_serve(proc)
        log.close()
        engine.dispose()
        smtp.stop()
        http.shutdown()

    def ts(v) -> float:
        if isinstance(v, str):
            v = datetime.fromisoformat(v)
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return v.timestamp()

    by_channel: dict[str, list[float]] = {}
    rung_lat: dict[str, list[float]] = {}
    slowest: dict[str, list[tuple[float, int]]] = {}  # (latency, which transition)
    fired_at = {(r.deadline_id, r.rung): ts(r.fired_at) for r in fired}
    statuses: dict[str, int] = {}
    for case_id, channel, status, address, number, key in rows:
        statuses[f"{channel}:{status}"] = statuses.get(f"{channel}:{status}", 0) + 1
        if status != "sent" or channel not in ("email", "webhook"):
            continue  # (an inbox row is "delivered" by the database write: no receiver to time it)
        moment = None
        if key.startswith("rung:"):
            _, deadline_id, rung = key.split(":")[:3]
            moment = fired_at.get((int(deadline_id), rung))
        after = moment if moment is not None else committed.get(case_id, 0.0)
        arrived = inbox.hooks.get(key) if channel == "webhook" else inbox.mail_for(address or "", number, after)
        if arrived is None:
            statuses[f"{channel}:not received"] = statuses.get(f"{channel}:not received", 0) + 1
            continue
        if key.startswith("rung:"):
            if moment is not None:
                rung_lat.setdefault(channel, []).append(arrived - moment)
        elif case_id in committed:
            by_channel.setdefault(channel, []).append(arrived - committed[case_id])
            order = sorted(committed, key=committed.get).index(case_id) + 1
            slowest.setdefault(channel, []).append((arrived - committed[case_id], order))
    timer_lat = [ts(r.fired_at) - ts(r.fire_at) for r in fired]
    print(f"load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} (2 cores)")
    print(f"{len(committed)} transitions (register), one every {args.gap:g} s; sweep every {args.sweep_interval} s; "
          + ("signed in over HTTP" if args.sign_in else "token minted (no sign-in)")
          + (", one more case registered first (its messages sent)" if args.prime else "")
          + (f", {args.quiet:g} s without a request before the first" if args.quiet else "")
          + (f", {args.think:g} s reading before the first" if args.think else "")
          + (f"; {' '.join(args.env)}" if args.env else ""))
    print(f"outbox rows by channel:status: {dict(sorted(statuses.items()))}")
    print(f"received: {len(inbox.mails)} mails on the loopback SMTP server, {len(inbox.hooks)} webhook POSTs")
    for channel, xs in sorted(by_channel.items()):
        print("commit → delivered, " + summary(channel, xs)
              + (" (attaches the 整改通知书's PDF: waits for it to be rendered)" if channel == "email" else ""))
        worst = sorted(slowest.get(channel, []), reverse=True)[:3]
        later = [lat for lat, n in slowest.get(channel, []) if n > SETTLING]
        if later:
            print(f"  without the first {SETTLING} transitions (the derive process starting): "
                  + summary(channel, later))
        print("  slowest: " + ", ".join(f"{lat:.2f} s (transition {n} of {len(committed)})" for lat, n in worst))
    if committed:
        # Where the first transition's time went (a cold derive process, after a quiet spell): seconds
        # after its commit was answered, from the rows' own timestamps and the receivers'.
        t0 = committed[first_case]
        marks = []
        for doc_type, issued, rendered in first_docs:
            marks.append(f"{doc_type} issued {ts(issued) - t0:+.2f}"
                         + (f", rendered {ts(rendered) - t0:+.2f}" if rendered else ", not rendered"))
        for channel, address, created, sent, key, number in first_msgs:
            if channel not in ("email", "webhook"):
                continue
            arrived = inbox.hooks.get(key) if channel == "webhook" else inbox.mail_for(address or "", number, t0)
            marks.append(f"{channel} queued {ts(created) - t0:+.2f}"
                         + (f", sent {ts(sent) - t0:+.2f}" if sent else "")
                         + (f", received {arrived - t0:+.2f}" if arrived else ""))
        print("the first transition, s after its commit: " + "; ".join(marks))
    print("timer moment → fired, " + summary(f"{len(moved)} timers moved", timer_lat)
          + f" (goal: ≤ 1 s + the sweep interval = {1 + args.sweep_interval} s)")
    for channel, xs in sorted(rung_lat.items()):
        print("timer fired → delivered (a reminder: no document), " + summary(channel, xs))
    if args.keep:
        print(f"kept {data}")
    else:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
