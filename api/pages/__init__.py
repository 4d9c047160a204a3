"""The pages people work in: server-rendered HTML (Jinja2) in the same app as the JSON API.

The pages live at ``/`` (the API stays at ``/api``, its docs at ``/docs``). They call the same
services in ``cases/`` as the API and keep no second copy of a rule: labels, fields and actions come
from the machine data, visibility from ``cases.ledger.access``/``policy``. Every page works without
JavaScript; ``/static/app.js`` only adds conveniences (search as you type in pickers).

One module per page family, each with its own ``router`` (the pages of one case — the case page,
action forms, new case, pickers, evidence — in ``api/pages/cases/``); ``common`` holds what they share: the
session cookie, CSRF, the template environment and its filters, ``render`` and ``redirect``.
"""
from __future__ import annotations

from fastapi import FastAPI

from api.route_table import include_flat


def install_pages(app: FastAPI) -> None:
    from api.pages import admin, auth, campaigns, cockpit, common, complaints, home, inbox, ledger, me, role_preferences
    from api.pages import analogs, inspections, self_inspection
    from api.pages.sanctions import credit as credit_pages
    from api.pages.cases import actions, case_page, evidence, new_case, pickers
    from api.pages.sanctions import interviews as interview_pages
    from api.pages.sanctions import referrals as referral_pages
    from api.pages.reports import periodic as periodic_reports
    from api.pages.sanctions import patterns as pattern_pages
    from api.pages.reports import rankings as ranking_pages
    from api.pages.reports import accident_platform as accident_platform_pages

    common.install(app)
    # One module a line: each domain's pages are added (and merged) as one line.
    for module in (
        auth,
        home,
        inbox,
        me,
        admin,
        role_preferences,
        ledger,
        self_inspection,
        cockpit,
        campaigns,
        complaints,
        evidence,
        case_page,
        new_case,
        actions,
        pickers,
        inspections,
        analogs,
        credit_pages,
        interview_pages,
        referral_pages,
        periodic_reports,
        pattern_pages,
        ranking_pages,
        accident_platform_pages,
    ):
        include_flat(app, module.router)
