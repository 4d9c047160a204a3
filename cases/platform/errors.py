"""Domain errors. Messages are Chinese (users read them); the API maps each class to a status."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, **info: Any) -> None:
        super().__init__(message)
        self.message = message
        self.info = info


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class Conflict(DomainError):
    code = "conflict"


class ActionNotAllowed(Conflict):
    """The action cannot be taken in the case's current state (or a guard refuses it)."""

    code = "action_not_allowed"


class StaleVersion(Conflict):
    code = "stale_version"


class PayloadTooLarge(DomainError):
    """An upload larger than its setting allows (evidence: ``evidence_max_bytes``) → 413."""

    code = "payload_too_large"


class ValidationFailed(DomainError):
    """One or more fields are missing or invalid; ``errors`` names each field and why."""

    code = "validation_failed"

    def __init__(self, errors: list[dict[str, str]], message: str | None = None) -> None:
        from cases.ledger.labels import field_label

        # Every error names its field by a Chinese label: the caller's, else the API's table; a
        # field nobody knows (a typo in the request) is quoted as typed.
        errors = [e if e.get("label") or not e.get("field") else
                  {**e, "label": field_label(e["field"]) or f"字段“{e['field']}”"} for e in errors]
        text = message or "；".join(f"{e.get('label') or '请求'}：{e['message']}" for e in errors)
        super().__init__(text, errors=errors)
        self.errors = errors


def field_error(field: str, message: str, label: str | None = None) -> ValidationFailed:
    return ValidationFailed([{"field": field, "message": message, **({"label": label} if label else {})}])
