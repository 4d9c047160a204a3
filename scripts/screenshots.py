"""`make screenshots`: the main pages, desktop (1280 px) and phone (375 px) wide, into docs/screenshots/.

Builds a throw-away SQLite database with the demo data at a fixed instant, serves the app on a free
loopback port in this process, logs in through the login form in Debian's Chromium (Playwright,
never a downloaded browser) and saves one PNG per page and width. A page that answers an error is
reported and skipped, so the script also shows which pages do not exist yet.
"""
from __future__ import annotations

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import uvicorn

AT = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)  # Monday 10:00 Beijing time
CHROMIUM = "/usr/bin/chromium"
PAGES = [  # (user, path, file name); {case} is an open case of the officer's, {major} an open major hazard
    (None, "/login", "login"),
    ("officer", "/", "workbench"),
    ("officer", "/cases/{case}", "case"),
    ("officer", "/cases/new/hazard", "new-hazard"),
    ("officer", "/ledger", "ledger"),
    ("supervisor", "/cockpit", "cockpit"),
    ("supervisor", "/cockpit/supervisions", "supervisions"),
    ("supervisor", "/cases/{major}", "major-hazard"),
    ("enterprise", "/", "enterprise"),
    ("officer", "/inspections/new", "inspection-new"),
    ("supervisor", "/campaigns", "campaigns"),
    ("officer", "/complaints", "complaints"),
    (None, "/complaint", "complaint-public"),
    ("enterprise", "/self-inspection", "self-inspection"),
    ("supervisor", "/cockpit/analogs", "analogs"),
    ("supervisor", "/credit/blacklist", "credit-lists"),
    (None, "/public/exposure", "exposure-public"),
    ("officer", "/interviews", "interviews"),
    ("officer", "/referrals", "referrals"),
    ("officer", "/reports/periodic", "periodic-report"),
    ("supervisor", "/cockpit/repeat-offenders", "repeat-offenders"),
]


def _serve(app) -> tuple[uvicorn.Server, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright
    from sqlalchemy import select

    from api.app import create_app
    from cases.demo import DEMO_PASSWORD, load_demo
    from cases.models import Case
    from cases.platform.clock import Clock, set_clock
    from cases.platform.config import Settings
    from cases.platform.db import Database
    from cases.platform.migrate import upgrade
    from cases.reference import load_reference_data

    tmp = Path(tempfile.mkdtemp(prefix="anjian-shots-"))
    url = f"sqlite:///{tmp}/shots.db"
    upgrade(url)
    db = Database(url)
    clock = Clock()
    clock.set(AT)
    set_clock(clock)
    with db.transaction() as s:
        load_reference_data(s)
        load_demo(s, now=AT)
    with db.session() as s:
        case = s.scalar(select(Case.id).where(Case.kind == "hazard", Case.closed_at.is_(None), Case.state != "found",
                                              Case.jurisdiction_code == "320508").order_by(Case.clock_due_at.asc()))
        major = s.scalar(select(Case.id).where(Case.kind == "major_hazard", Case.closed_at.is_(None),
                                               Case.state != "found").order_by(Case.id))
    settings = Settings(secret_key="screenshots-only-" + "0" * 32, database_url=url, data_dir=tmp / "data")
    app = create_app(database=db, clock=clock, settings=settings)
    app.state.derive_before_response = True
    server, base = _serve(app)
    failed = 0
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            contexts = {}
            for user, path, name in PAGES:
                path = path.format(case=case, major=major)
                for width, suffix in ((1280, "desktop"), (375, "phone")):
                    key = (user, width)
                    if key not in contexts:
                        ctx = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN",
                                                  base_url=base, device_scale_factor=1)
                        if user:
                            page = ctx.new_page()
                            page.goto("/login")
                            page.fill("input[name=username]", user)
                            page.fill("input[name=password]", DEMO_PASSWORD)
                            page.click("button[type=submit]")
                            page.wait_for_load_state()
                            page.close()
                        contexts[key] = ctx
                    page = contexts[key].new_page()
                    response = page.goto(path)
                    status = response.status if response else 0
                    if status != 200 or re.search(r"/login", page.url) and user:
                        print(f"skipped {name} ({suffix}): {path} answered {status} at {page.url}", file=sys.stderr)
                        failed += 1
                    else:
                        target = out / f"{name}-{suffix}.png"
                        # Desktop: the whole page; phone: the first two screens (what one sees on site).
                        page.screenshot(path=str(target), full_page=width > 375,
                                        clip=None if width > 375 else {"x": 0, "y": 0, "width": 375, "height": 1600})
                        print(f"wrote {target}")
                    page.close()
            browser.close()
    finally:
        server.should_exit = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
