"""What people read across many cases: the filters every list, the ledger and its exports share
(``case_lists``), the ledger's rows for .xlsx/CSV (``export``), counts by jurisdiction × kind × light
(``light_stats``, with ``jurisdiction_cache`` for names and subtrees), the cockpit's figures —
按期整改率, working days to close, the monthly trend, the escalation log (``stats``) — and the
supervision board's stages (``supervision_board``)."""
