"""Messages and their delivery receipts as people see them.

Administrators see everything (errors, the provider's answer, the worker). Everyone else sees
only whether a message was sent — 已发送 / 发送失败 / 待发送 — and when: no transport detail
(error text, provider answer, next attempt), so a receipt can never be read as a port scanner's
answer. Secrets in what administrators see were masked when the receipt was written
(notifications/channels/secrets.py).
"""
from __future__ import annotations

from typing import Any

from cases.models import DeliveryAttempt, OutboxMessage
from notifications.rendering.catalog import CATALOG
from notifications.channels.secrets import redact

SENT, FAILED, PENDING = "sent", "failed", "pending"
LABELS = {SENT: "已发送", FAILED: "发送失败", PENDING: "待发送"}
_MESSAGE = {"sent": SENT, "failed": FAILED}  # pending / sending → pending
_ATTEMPT = {"sent": SENT, "retry": FAILED, "failed": FAILED, "stale": FAILED, "abandoned": FAILED}


def status_label(status: str) -> str:
    """已发送 / 发送失败 / 待发送 of a message's stored status (pending and sending: 待发送)."""
    return LABELS[_MESSAGE.get(status, PENDING)]


def _attempt(a: DeliveryAttempt, detailed: bool) -> dict[str, Any]:
    if detailed:
        return {"attempt": a.attempt_no, "status": a.status, "started_at": a.started_at,
                "finished_at": a.finished_at, "error": redact(a.error),
                "provider_response": redact(a.provider_response), "worker": a.worker}
    status = _ATTEMPT.get(a.status, PENDING)
    return {"attempt": a.attempt_no, "status": status, "status_label": LABELS[status],
            "at": a.finished_at or a.started_at}


def view(m: OutboxMessage, attempts: list[DeliveryAttempt] | None = None, *, detailed: bool) -> dict[str, Any]:
    """One message with its receipts; ``detailed`` for administrators only."""
    spec = CATALOG.get(m.template)
    out = {"id": m.id, "case_id": m.case_id, "template": m.template, "title": spec.title if spec else m.template,
           "channel": m.channel, "recipient_user_id": m.recipient_user_id, "recipient_address": m.recipient_address,
           "document_no": m.document_no, "urgent": m.urgent, "created_at": m.created_at, "sent_at": m.sent_at,
           "read_at": m.read_at}
    if detailed:
        out.update(status=m.status, attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                   last_error=redact(m.last_error), provider_response=redact(m.provider_response),
                   dedupe_key=m.dedupe_key)
    else:
        status = _MESSAGE.get(m.status, PENDING)
        out.update(status=status, status_label=LABELS[status])
    if attempts is not None:
        out["receipts"] = [_attempt(a, detailed) for a in attempts]
    return out
