"""Every route's declared access policy: the resource it serves and who gets through.

One line per route, keyed ``"METHOD /path"`` exactly as FastAPI lists it. ``resource`` names an
entry of ``cases.ledger.policy.RESOURCES`` (the rule in words; the services enforce it). The expectation
string has one token per actor, in the order of ``ACTORS``, for the scenario that
tests/test_access_policy.py builds:

- the target case is a 重大事故隐患 in 姑苏区 (320508), registered (so it has a supervision listed by
  the city, documents and messages); its responsible unit is e1 and e2 is named on it as 监理单位
  (a related unit); path ids point at that case and its things (``{enterprise_id}`` → e1);
- the actors: ``anon`` no token; ``ent`` the contact of e1 (responsible unit); ``ent_b`` the
  contact of e2 (related unit only); ``off`` an officer of 320508 (own county); ``off_wz`` an
  officer of 吴中区 320506 (another county); ``city`` a supervisor of 苏州市 320500; ``prov`` a
  supervisor of the province 320000; ``adm`` an admin of 320508; ``adm_wz`` an admin of 320506;
  ``root`` the admin of the root jurisdiction 320000.

Tokens: ``2`` a 2xx; for a list route (one the test checks for a target item): ``2+`` a 2xx
listing the target (the case, its supervision, a message to the officer, a message to e1's
contact, 姑苏区, e1, the 姑苏区 project and building, the 姑苏区 officer), ``2-`` a 2xx without it;
``3`` a redirect; ``401`` / ``403`` / ``404`` / ``409`` / ``422`` exactly that status; ``ok``
"let through": 2xx, 409 or 422 (the answer then depends on the state earlier requests of the same
route left, e.g. a second extension request; where the test can restore that state before each
request — RESETS there — the exact token is used).

A new route: add its line here (the test fails until every route of the app has one, and fails
on lines for routes that no longer exist); if it needs a path id or body the test does not know,
add it to PATH_IDS / REQUESTS in tests/test_access_policy.py.
"""
from __future__ import annotations

ACTORS = ("anon", "ent", "ent_b", "off", "off_wz", "city", "prov", "adm", "adm_wz", "root")
TOKENS = {"2", "2+", "2-", "3", "401", "403", "404", "409", "422", "ok"}

# fmt: off
ROUTES: dict[str, tuple[str, str]] = {
    # route                                                 resource            anon ent ent_b off off_wz city prov adm adm_wz root
    "GET /openapi.json":                                     ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "GET /docs":                                             ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "GET /redoc":                                            ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "GET /healthz":                                          ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "GET /readyz":                                           ("public",           "ok  ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    # Pages (api/pages/): a session cookie, not a bearer token — without one a page redirects to /login
    # and a form post is refused (no CSRF field); tests/pages/ check them with real sessions.
    "GET /":                                                 ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /login":                                            ("page",             "2   2   2   2   2   2   2   2   2   2"),
    "POST /login":                                           ("page",             "403 403 403 403 403 403 403 403 403 403"),
    "POST /logout":                                          ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /ledger":                                           ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /ledger/export.xlsx":                               ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /ledger/export.csv":                                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /inbox":                                            ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /self-inspection":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/{case_id:int}":                              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /documents/{doc_id}.pdf":                           ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /documents/{doc_id}.html":                          ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /inbox/{message_id}/read":                         ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /inbox/read-all":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /me/preferences":                                   ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /me/preferences":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /me/password":                                     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /admin":                                            ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/users":                                     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/users/{user_id}/deactivate":                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/users/{user_id}/activate":                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/channels/{name}":                           ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/calendar":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /admin/role-preferences":                           ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /admin/role-preferences/{role}":                    ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/role-preferences/{role}":                   ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/messages/{message_id}/resend":              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit":                                          ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit/overdue":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit/supervisions":                             ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cockpit/supervisions/{supervision_id}/decision":  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cockpit/supervisions/{supervision_id}/lift":      ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit/escalations":                              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit/performance":                              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cases/{case_id}/evidence":                        ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /evidence/{evidence_id}":                           ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /evidence/{evidence_id}/thumb":                     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/new":                                        ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/new/{kind}":                                 ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cases/new/{kind}":                                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/{case_id}/actions/{action}":                 ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cases/{case_id}/actions/{action}":                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /picker/accident-grade":                            ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /picker/{source}":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/state-machines":                               ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "GET /api/state-machines/{kind}":                        ("public",           "2   2   2   2   2   2   2   2   2   2"),
    "POST /api/auth/token":                                  ("session",          "2   2   2   2   2   2   2   2   2   2"),
    "GET /api/me":                                           ("session",          "401 2   2   2   2   2   2   2   2   2"),
    "POST /api/cases":                                       ("case",             "401 403 403 2   422 2   2   403 403 403"),
    "GET /api/cases":                                        ("case",             "401 2+  2-  2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/cases/export.xlsx":                            ("case",             "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/cases/export.csv":                             ("case",             "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/cases/{case_id}":                              ("case",             "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/cases/{case_id}/events":                       ("case",             "401 2   404 2   404 2   2   2   404 2"),
    "POST /api/cases/{case_id}/actions/{action}":            ("case",             "401 2   404 2   404 2   2   403 404 403"),
    "GET /api/queue":                                        ("queue",            "401 2+  2-  2+  2-  2-  2-  2-  2-  2-"),
    "GET /api/overdue":                                      ("queue",            "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/self-inspection":                              ("case",             "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/stats/lights":                                 ("queue",            "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/stats/early-warning":                          ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    "GET /cockpit/early-warning":                            ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/stats/enterprise-ranking":                     ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    "GET /cockpit/enterprises":                              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/stats/repeat-offenders":                       ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    "GET /cockpit/repeat-offenders":                         ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/repeat-offender-flags":                         ("patterns",         "401 403 403 2   2   2   2   2   2   2"),
    "GET /api/repeat-offender-flags/{flag_id}":               ("patterns",         "401 403 403 404 404 404 404 404 404 404"),
    "POST /api/repeat-offender-flags/{flag_id}/acknowledge":  ("patterns",         "401 403 403 404 404 404 404 404 404 404"),
    "POST /api/repeat-offender-flags/{flag_id}/decision":     ("patterns",         "401 403 403 404 404 404 404 404 404 404"),
    "GET /cockpit/repeat-offenders/flags/{flag_id}":          ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cockpit/repeat-offenders/flags/{flag_id}/acknowledge": ("page",         "3   3   3   3   3   3   3   3   3   3"),
    "POST /cockpit/repeat-offenders/flags/{flag_id}/decide":  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/cases/{case_id}/deadlines":                    ("case",             "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/cases/{case_id}/accident-report":              ("case",             "401 409 404 409 404 409 409 409 404 409"),
    "GET /api/cases/{case_id}/accident-report/platform":     ("case",             "401 409 404 409 404 409 409 409 404 409"),
    "GET /api/cases/{case_id}/accident-report/platform.xlsx": ("case",            "401 409 404 409 404 409 409 409 404 409"),
    "GET /api/reports/accident-platform":                    ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    "GET /api/reports/accident-platform.xlsx":               ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    "GET /api/reports/accident-platform.csv":                ("queue",            "401 403 403 2   2   2   2   2   2   2"),
    # Published enterprise rankings (cases/rankings/): the scenario's supervisor "city" is 苏州市's; the public read needs no login.
    "POST /api/enterprise-rankings/publications":            ("rankings",         "401 403 403 403 403 2   2   403 403 403"),
    "GET /api/enterprise-rankings/publications":             ("rankings",         "401 403 403 2   2   2   2   2   2   2"),
    "GET /api/public/enterprise-ranking":                    ("rankings.public",  "2   2   2   2   2   2   2   2   2   2"),
    "GET /public/enterprise-ranking":                        ("rankings.public",  "2   2   2   2   2   2   2   2   2   2"),
    "GET /public/enterprise-ranking.xlsx":                   ("rankings.public",  "404 404 404 404 404 404 404 404 404 404"),
    "GET /public/enterprise-ranking.csv":                    ("rankings.public",  "404 404 404 404 404 404 404 404 404 404"),
    "GET /cockpit/enterprises/publish":                      ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cockpit/enterprises/publish":                     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/{case_id:int}/accident-report/platform.xlsx": ("page",            "3   3   3   3   3   3   3   3   3   3"),
    "GET /reports/accident-platform.xlsx":                   ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /reports/accident-platform.csv":                    ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cases/{case_id:int}/accident-report":              ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /api/cases/{case_id}/escalations":                  ("case",             "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/supervisions":                                 ("supervision",      "401 403 403 2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/supervisions/{supervision_id}":                ("supervision",      "401 2   404 2   404 2   2   2   404 2"),
    "POST /api/supervisions/{supervision_id}/extension":     ("supervision",      "401 403 404 ok  404 ok  ok  403 404 403"),
    "POST /api/supervisions/{supervision_id}/extension/decision": ("supervision", "401 403 404 403 404 ok  ok  403 404 403"),
    "POST /api/supervisions/{supervision_id}/lift":          ("supervision",      "401 403 404 403 404 ok  ok  403 404 403"),
    "GET /api/calendar/deadline":                            ("calendar",         "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/calendar/years":                               ("calendar",         "401 2   2   2   2   2   2   2   2   2"),
    "POST /api/admin/calendar/years":                        ("calendar",         "401 403 403 403 403 403 403 403 403 422"),
    "GET /api/cases/{case_id}/documents":                    ("document",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/documents/{doc_id}.pdf":                       ("document",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/documents/{doc_id}.html":                      ("document",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/documents/{doc_id}":                           ("document",         "401 2   404 2   404 2   2   2   404 2"),
    "POST /api/documents/{doc_id}/rerender":                 ("document",         "401 403 404 2   404 2   2   2   404 2"),
    "POST /api/admin/documents/{doc_id}/rerender":           ("document",         "401 403 403 403 403 403 403 2   404 2"),
    "POST /api/cases/{case_id}/evidence":                    ("evidence",         "401 2   404 2   404 2   2   403 404 403"),
    "GET /api/cases/{case_id}/evidence":                     ("evidence",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/evidence/{evidence_id}":                       ("evidence",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/evidence/{evidence_id}/thumb":                 ("evidence",         "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/inbox":                                        ("inbox",            "401 2+  2-  2-  2-  2-  2-  2-  2-  2-"),
    "POST /api/inbox/{message_id}/read":                     ("inbox",            "401 2   404 404 404 404 404 404 404 404"),
    "GET /api/cases/{case_id}/messages":                     ("case.messages",    "401 2-  404 2+  404 2+  2+  2+  404 2+"),
    "POST /api/admin/messages/{message_id}/resend":          ("message.resend",   "401 403 403 403 403 403 403 2   404 2"),
    "GET /api/me/notification-preferences":                  ("preferences.own",  "401 2   2   2   2   2   2   2   2   2"),
    "PUT /api/me/notification-preferences":                  ("preferences.own",  "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/admin/role-preferences/{role}":                ("preferences.role", "401 403 403 403 403 403 403 2   2   2"),
    "PUT /api/admin/role-preferences/{role}":                ("preferences.role", "401 403 403 403 403 403 403 403 403 2"),
    "GET /api/admin/channels":                               ("channels",         "401 403 403 403 403 403 403 403 403 2"),
    "GET /api/admin/channels/{name}":                        ("channels",         "401 403 403 403 403 403 403 403 403 2"),
    "PUT /api/admin/channels/{name}":                        ("channels",         "401 403 403 403 403 403 403 403 403 ok"),
    "DELETE /api/admin/channels/{name}":                     ("channels",         "401 403 403 403 403 403 403 403 403 2"),
    "GET /api/jurisdictions":                                ("jurisdictions",    "401 2+  2-  2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/enterprises":                                  ("enterprises",      "401 2+  2-  2+  2+  2+  2+  2+  2+  2+"),
    "GET /api/enterprises/{enterprise_id}":                  ("enterprises",      "401 2   404 2   2   2   2   2   2   2"),
    "POST /api/enterprises":                                 ("enterprises",      "401 403 403 2   422 2   2   2   422 2"),
    "GET /api/projects":                                     ("projects",         "401 2+  2-  2+  2-  2+  2+  2+  2-  2+"),
    "POST /api/projects":                                    ("projects",         "401 403 403 2   422 2   2   2   422 2"),
    "GET /api/buildings":                                    ("buildings",        "401 2-  2-  2+  2-  2+  2+  2+  2-  2+"),
    "POST /api/buildings":                                   ("buildings",        "401 403 403 2   422 2   2   2   422 2"),
    "GET /api/users":                                        ("users",            "401 403 403 2+  2-  2+  2+  2+  2-  2+"),
    "POST /api/users":                                       ("users",            "401 403 403 403 403 403 403 2   422 2"),
    "GET /api/hazard-catalog":                               ("reference",        "401 2   2   2   2   2   2   2   2   2"),
    "POST /api/auth/logout":                                ("session",          "401 2   2   2   2   2   2   2   2   2"),
    "POST /api/me/password":                                ("session",          "401 ok  ok  ok  ok  ok  ok  ok  ok  ok"),
    "POST /api/users/{user_id}/deactivate":                 ("users",            "401 403 403 403 403 403 403 2   404 2"),
    "POST /api/users/{user_id}/activate":                   ("users",            "401 403 403 403 403 403 403 2   404 2"),
    "GET /api/admin/security-log":                          ("security_log",     "401 403 403 403 403 403 403 2   2   2"),
    "GET /api/inspections":                                  ("inspection",       "401 2+  2-  2+  2-  2+  2+  2+  2-  2+"),
    "POST /api/inspections":                                 ("inspection",       "401 403 403 2   422 2   2   403 403 403"),
    "GET /api/inspections/{inspection_id}":                  ("inspection",       "401 2   404 2   404 2   2   2   404 2"),
    "POST /api/inspections/{inspection_id}/items/{item_id}/case": ("inspection",  "401 403 404 2   404 2   2   403 404 403"),
    "POST /api/inspections/{inspection_id}/items/{item_id}/photo": ("inspection", "401 403 404 2   404 2   2   403 404 403"),
    "GET /api/inspections/{inspection_id}/items/{item_id}/photo": ("inspection",  "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/inspections/{inspection_id}/document.pdf":     ("inspection",       "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/inspections/{inspection_id}/document.html":    ("inspection",       "401 2   404 2   404 2   2   2   404 2"),
    "GET /api/checklists":                                   ("checklist",        "401 2   2   2   2   2   2   2   2   2"),
    "GET /api/checklists/{checklist_id}":                    ("checklist",        "401 2   2   2   2   2   2   2   2   2"),
    "POST /api/checklists":                                  ("checklist",        "401 403 403 403 403 403 403 403 403 2"),
    "GET /inspections":                                      ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /inspections/new":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /inspections/new":                                 ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /inspections/{inspection_id}":                      ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /inspections/{inspection_id}/items/{item_id}/case": ("page",            "3   3   3   3   3   3   3   3   3   3"),
    "GET /inspections/{inspection_id}/items/{item_id}/photo": ("page",            "3   3   3   3   3   3   3   3   3   3"),
    "POST /inspections/{inspection_id}/items/{item_id}/photo": ("page",           "3   3   3   3   3   3   3   3   3   3"),
    "GET /inspections/{inspection_id}/document.pdf":         ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /inspections/{inspection_id}/document.html":        ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /admin/checklists":                                 ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /admin/checklists":                                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    # Public complaints (投诉举报, cases/complaints/): the public routes need no login (rate-limited per address).
    "POST /api/public/complaints":                           ("complaints.public", "2   2   2   2   2   2   2   2   2   2"),
    "GET /api/public/complaints/{lookup_code}":              ("complaints.public", "2   2   2   2   2   2   2   2   2   2"),
    "GET /api/public/complaint-districts":                   ("complaints.public", "2   2   2   2   2   2   2   2   2   2"),
    "GET /complaint":                                        ("complaints.public", "2   2   2   2   2   2   2   2   2   2"),
    "POST /complaint":                                       ("complaints.public", "403 403 403 403 403 403 403 403 403 403"),
    "GET /complaint/status":                                 ("complaints.public", "2   2   2   2   2   2   2   2   2   2"),
    "POST /complaint/status":                                ("complaints.public", "403 403 403 403 403 403 403 403 403 403"),
    "POST /api/complaints/referrals":                        ("complaints",       "401 403 403 2   422 2   2   403 403 403"),
    "GET /api/complaints":                                   ("complaints",       "401 403 403 2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/complaints/{complaint_id}":                    ("complaints",       "401 403 403 2   404 2   2   2   404 2"),
    "GET /api/cases/{case_id}/complaints":                   ("complaints",       "401 403 403 2   404 2   2   2   404 2"),
    "POST /api/cases/{case_id}/complaints/reply":            ("complaints",       "401 403 403 ok  404 ok  ok  403 403 403"),
    "POST /api/cases/{case_id}/complaints/merge":            ("complaints",       "401 403 403 422 404 422 422 403 403 403"),
    "GET /complaints":                                       ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cases/{case_id}/complaints/reply":                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /cases/{case_id}/complaints/merge":                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    # Campaigns (专项整治): the scenario's campaign is organised by 苏州市 320500 with 320508 in scope.
    "POST /api/campaigns":                                  ("campaigns",        "401 403 403 403 403 2   2   403 403 2"),
    "GET /api/campaigns":                                   ("campaigns",        "401 403 403 2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/campaigns/{campaign_id}":                     ("campaigns",        "401 403 403 2   404 2   2   2   404 2"),
    "PATCH /api/campaigns/{campaign_id}":                   ("campaigns",        "401 403 403 403 404 2   2   403 404 2"),
    "GET /api/campaigns/{campaign_id}/coverage":            ("campaigns",        "401 403 403 2   404 2   2   2   404 2"),
    "GET /api/campaigns/{campaign_id}/projects":            ("campaigns",        "401 403 403 2   404 2   2   2   404 2"),
    "GET /campaigns":                                       ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /campaigns/new":                                   ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /campaigns/new":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /campaigns/{campaign_id}":                         ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /campaigns/{campaign_id}/projects":                ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /campaigns/{campaign_id}/letters/{firing_id}":     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    # 类比排查 (cases/analogs/, docs/analogs.md)
    "GET /api/analog-tasks":                                 ("analog_task",      "401 403 403 2+  2-  2+  2+  2+  2-  2+"),
    "GET /api/cases/{case_id}/analog-tasks":                 ("analog_task",      "401 403 403 2   404 2   2   2   404 2"),
    "POST /api/analog-tasks/{task_id}/cancel":               ("analog_task",      "401 403 403 403 404 ok  ok  403 404 403"),
    "GET /analog-tasks":                                     ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "POST /analog-tasks/{task_id}/cancel":                   ("page",             "3   3   3   3   3   3   3   3   3   3"),
    "GET /cockpit/analogs":                                  ("page",             "3   3   3   3   3   3   3   3   3   3"),
}
# fmt: on


def expectations(route: str) -> dict[str, str]:
    """``route``'s expected token per actor."""
    tokens = ROUTES[route][1].split()
    if len(tokens) != len(ACTORS):
        raise ValueError(f"{route}: {len(tokens)} tokens for {len(ACTORS)} actors")
    return dict(zip(ACTORS, tokens))
