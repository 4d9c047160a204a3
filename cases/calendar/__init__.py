"""The legal holiday calendar: a year's State Council notice parsed (``year_notice``), the loaded years
(``calendar_years``), the calendar held in memory and invalidated by a generation number
(``calendar_store``, ``calendar_watch``), and the deadlines recomputed when a notice changes them
(``calendar_repair``). ``cases.clocks.legal_time`` counts working days on it."""
