"""Published enterprise rankings per city (issue 12 part 8; docs/patterns.md): ``score`` (the one
function the credit score is read through), ``publish`` (a supervisor's act freezing the city's
ranking as a snapshot with period, authority and date; the public read of the latest one)."""
