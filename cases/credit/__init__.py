"""Credit records (不良行为记录), the blacklist (黑名单) and public exposure (曝光) — docs/credit.md.

- ``services``: recording a cause exactly once (by its source key) under the versioned deduction
  table (state_machines/policies/credit-vN.yaml), the derived score and its cache
  ``Enterprise.credit_score``, listing when a threshold is reached; the appeal and the decision;
  a staff-recorded cause (refusal to stop work).
- ``causes``: where the ledger and the clocks record causes — the ``deduct_credit`` effect
  (major hazards), the transition hook (accident graded, report met late), the rung hook both
  firing paths call (overdue rectification, 约谈, report clocks overdue).
- ``sweep``: the sweep's pass — records expire, listings whose period has ended are lifted.
- ``reads``: records with their trail, lists, the public exposure list.
"""
