"""类比排查 (举一反三): analogous checks proposed when a major hazard is registered (or a hazard is
found to be one) or an accident is graded — the responsible unit's other active projects and the
projects of the case's jurisdiction with a record of the same hazard category — each a task with a
due date from policy data (state_machines/policies/analogs-v*.yaml), closed by an inspection record.

``proposals`` (the transition hook that proposes them), ``services`` (closing by an inspection,
cancelling with a reason), ``reads`` (who sees which tasks, the lists and the cockpit's figures),
``clock`` (the sweep's reminder and overdue notice, each once). docs/analogs.md."""
