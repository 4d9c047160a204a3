"""Periodic reports (定期报送, docs/reports.md): ``asof`` (the figures of a period as of a cut-off
instant, replayed from the event log), ``policy`` (periods and reporting deadlines:
state_machines/policies/reporting-v1.yaml), ``services`` (compute, submit a frozen numbered
version, re-run and explain, the city's board), ``export`` (.xlsx)."""
