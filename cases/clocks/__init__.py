"""Legal time and the clocks: the holiday calendar, deadlines and their timers, 挂牌督办, the escalation ladder (per timer and in bulk)."""
