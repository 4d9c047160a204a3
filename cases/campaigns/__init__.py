"""Campaigns (专项整治 / 专项行动, issue 11): a named campaign of a city or province with its period,
scope (jurisdictions, project kinds), rounds with due dates and a coverage target.

- ``services``: create / edit (organisers: supervisors and admins of a city or province), validation
  with Chinese labels, the campaigns a user may see (the jurisdiction tree: a city's campaign is
  visible to its districts in scope; only the organiser's level and above edit it);
- ``coverage``: per district (county-level jurisdictions in scope) and round — projects in scope,
  inspected, not yet inspected, hazards found, major hazards, rectified on time — and the lists
  behind each figure (project lists here, case lists through the ledger's ``campaign_id`` filter);
- ``clock``: the round clock, fired by the sweep: a reminder to a district behind target, then at the
  due date a 督办函 from the organiser; once per round, district and rung (``campaign_round_firings``);
  its rungs are policy data (state_machines/policies/campaigns-v1.yaml).

docs/campaigns.md describes it.
"""
