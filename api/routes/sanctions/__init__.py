"""JSON API of sanctions (issue 12): credit records, blacklist and exposure, 约谈 records, referrals
(移送), repeat-offender flags — one module per domain, each with its own ``router``."""
