"""The outbox delivered: claim, render, send, record; preferences, receipts, alerts."""
