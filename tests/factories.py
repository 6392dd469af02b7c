"""Factories for stored objects, so tests state only what matters to them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session

from dsar.enums import Regime, RequestKind, RequestStatus
from dsar.models import Request, new_id


def make_request(session: Session, **overrides: Any) -> Request:
    """Store a request with plausible defaults and return it."""
    fields: dict[str, Any] = {
        "controller": "lunexxa",
        "kind": RequestKind.ACCESS,
        "status": RequestStatus.RECEIVED,
        "regime": Regime.GDPR,
        "idempotency_key": new_id(),
        "email": "subject@example.com",
        "received_at": datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
        "received_on": date(2026, 3, 5),
        "due_date": date(2026, 4, 7),
        "effective_due_date": date(2026, 4, 7),
    }
    fields.update(overrides)
    request = Request(**fields)
    session.add(request)
    session.flush()
    return request
