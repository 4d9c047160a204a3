"""Plumbing every domain uses: database, settings, the injectable clock, tokens and sessions, accounts, errors, migrations, backup, idempotency, heartbeats."""
