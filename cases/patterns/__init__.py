"""Repeat offenders flagged to the supervisor (屡查屡犯, issue 12 part 2; docs/patterns.md):
``detect`` (the sweep's pass: an enterprise's events reaching a window of
state_machines/policies/patterns-v*.yaml become a flag, once per enterprise, pattern, window and
triggering event, with a message to the supervisors of the jurisdiction) and ``flags`` (who sees a
flag, the list, the supervisor's acknowledgement and decision with its trail)."""
