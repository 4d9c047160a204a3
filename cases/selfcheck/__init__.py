"""Enterprise self-inspection (自查自纠, docs/self-inspection.md): an enterprise contact records the
hazards its unit found itself (kind ``self_hazard``) and their rectification, in its own
self-inspection ledger (自查整改台账) that its regulator reads.

``records`` (what a contact may record: its own unit, one of its own projects), ``handover`` (an
overdue self-found hazard becomes the regulator's case: the rung effect ``hand_over``) and
``ledger`` (the ledger's rows and the regulator's per-enterprise summary, one query for both).
"""
