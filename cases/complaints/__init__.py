"""Public complaints (投诉举报): a citizen's report from the public page or a 12345 referral becomes a
``hazard`` case in state ``found`` with source 群众举报, a reply clock (policy data:
``complaint_reply``, 15 working days, the officer's) and a reply the complainant reads with a lookup
code (查询码). Duplicates merge into one case; its reply answers every complainant.

- ``codes``: the lookup code (random, shown once, stored as a hash), client keys and the public
  routes' per-address allowance;
- ``services``: filing (public and 12345), the reply, merging duplicates;
- ``reads``: the staff list and detail (the complainant's contact only to staff who see the case),
  and the public status (status and the official reply, nothing else).

See docs/complaints.md.
"""
from __future__ import annotations

CHANNELS = {"public_web": "网上举报", "hotline_12345": "12345热线转办"}
# A complaint's reply status as staff filter it.
REPLY_STATUS = {"pending": "待答复", "replied": "已答复", "overdue": "逾期未答复"}
