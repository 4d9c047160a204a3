"""Referrals (移送) of a case to another body: 公安机关, 消防救援机构, the licence authority,
纪检监察机关 — the 移送函, the reply clock and the reply (docs/referrals.md)."""

STATUS_LABELS = {"open": "待回复", "overdue": "逾期未回复", "replied": "已回复", "withdrawn": "已撤回"}
STATES = tuple(STATUS_LABELS)
DOC_TYPE = "referral_letter"
CLOCK_KEY = "referral_reply"
# Who refers and records: the regulator's staff who act on cases (admins administer, they do not refer).
ACTING_ROLES = ("officer", "supervisor")
