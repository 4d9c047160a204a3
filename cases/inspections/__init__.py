"""Inspections (检查记录) and their checklists (检查表), issue 11 parts 1 and 2.

- ``checklists``: checklist versions as data — parsed and checked from YAML
  (``state_machines/checklists/*.yaml`` shipped with the release, or uploaded by an admin), stored in
  ``checklists`` as a new version whenever the YAML's SHA-256 is new; never overwritten.
- ``services``: record an inspection (campaign round and analogous-check task checked, the task
  closed), read and list inspections under the jurisdiction tree (an enterprise contact: its own
  projects' inspections, read-only), the 文号 of the 检查记录.
- ``findings``: a failed item's photo, and a failed item → a hazard / major-hazard / dangerous
  building case through ``cases.ledger.services.create_case``, linked both ways.
"""
from __future__ import annotations

INSPECTION_TYPES: dict[str, str] = {
    "daily": "日常检查", "special": "专项检查", "follow_up": "回头看", "comprehensive": "综合检查", "key": "重点检查",
}
RESULTS: dict[str, str] = {"pass": "合格", "fail": "不合格", "na": "不适用"}
APPLIES_TO: dict[str, str] = {"project": "工程项目", "building": "既有房屋"}
DOC_TYPE = "inspection_record"  # the 文号 counter's type (cases.issuance.docnumbers)
