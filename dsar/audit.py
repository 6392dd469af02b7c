"""The audit trail: append-only and hash-chained, so that any edit, deletion or reordering of
past events is detectable (Art. 5(2) accountability; Art. 30 records).

Each event's hash is ``sha256(prev_hash || canonical_json(event))`` where the canonical JSON
covers the sequence number, time, request id, action, actor and data, with sorted keys and no
whitespace. A one-row head (:class:`~dsar.models.AuditHead`) holds the last sequence number and
hash; appends lock it, so concurrent writers form one chain, and verification also catches a
tail that was cut off.

Events reference requests by id and never hold personal data: :func:`append_event` refuses data
in which the redaction patterns of :mod:`dsar.logging` find anything to mask.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from dsar.errors import AuditError
from dsar.logging import DENY_KEYS, redact_text
from dsar.models import AuditEvent, AuditHead, utcnow

GENESIS_HASH = "0" * 64


def canonical_json(payload: Mapping[str, Any]) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept as is."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def event_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    request_id: str | None,
    action: str,
    actor: str,
    data: Mapping[str, Any],
) -> str:
    """The chain hash of one event given its predecessor's hash."""
    body = canonical_json(
        {
            "seq": seq,
            "at": at.isoformat(),
            "request_id": request_id,
            "action": action,
            "actor": actor,
            "data": data,
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _check_no_personal_data(data: Mapping[str, Any], path: str = "data") -> None:
    for key, value in data.items():
        where = f"{path}.{key}"
        if str(key).lower() in DENY_KEYS:
            raise AuditError(f"audit events hold no personal data; {where} is an identity field")
        if isinstance(value, Mapping):
            _check_no_personal_data(value, where)
        elif isinstance(value, str) and redact_text(value) != value:
            raise AuditError(f"audit events hold no personal data; {where} looks like one")
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    _check_no_personal_data(item, f"{where}.{index}")
                elif isinstance(item, str) and redact_text(item) != item:
                    raise AuditError(
                        f"audit events hold no personal data; {where}.{index} looks like one"
                    )


def append_event(
    session: Session,
    *,
    action: str,
    actor: str,
    request_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The head row is read ``FOR UPDATE`` (PostgreSQL) or under SQLite's write lock, so two
    writers cannot both extend the same predecessor.
    """
    payload = dict(data or {})
    _check_no_personal_data(payload)
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).first()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    when = at or utcnow()
    seq = head.seq + 1
    digest = event_hash(
        prev_hash=head.hash,
        seq=seq,
        at=when,
        request_id=request_id,
        action=action,
        actor=actor,
        data=payload,
    )
    event = AuditEvent(
        seq=seq,
        at=when,
        request_id=request_id,
        action=action,
        actor=actor,
        data=payload,
        prev_hash=head.hash,
        hash=digest,
    )
    head.seq, head.hash = seq, digest
    session.add(event)
    session.add(head)
    session.flush()
    return event


@dataclass(frozen=True)
class Verification:
    """The result of walking the chain."""

    ok: bool
    events: int
    first_broken_seq: int | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_broken_seq": self.first_broken_seq,
            "reason": self.reason,
        }


def verify_chain(session: Session, *, batch: int = 5000) -> Verification:
    """Walk the chain in sequence order and report the first event that does not fit.

    Detects an edited event (its hash no longer matches), a deleted one (a gap in the sequence
    or a predecessor hash that no longer matches), reordered events, and a cut-off tail (the
    head names a later event than the last one stored).
    """
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        rows = session.exec(
            select(AuditEvent)
            .where(AuditEvent.seq >= expected_seq)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return Verification(False, count, expected_seq, f"event {expected_seq} is missing")
            if row.prev_hash != prev_hash:
                return Verification(False, count, row.seq, "does not follow its predecessor")
            recomputed = event_hash(
                prev_hash=row.prev_hash,
                seq=row.seq,
                at=row.at,
                request_id=row.request_id,
                action=row.action,
                actor=row.actor,
                data=row.data,
            )
            if recomputed != row.hash:
                return Verification(False, count, row.seq, "content does not match its hash")
            prev_hash = row.hash
            expected_seq += 1
            last_seq = row.seq
            count += 1
    head = session.get(AuditHead, 1)
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if head_seq != last_seq or head_hash != prev_hash:
        return Verification(False, count, last_seq + 1, "events after this point were removed")
    return Verification(True, count)


def events_for(session: Session, request_id: str) -> list[AuditEvent]:
    """The events of one request in chain order."""
    return list(
        session.exec(
            select(AuditEvent)
            .where(AuditEvent.request_id == request_id)
            .order_by(col(AuditEvent.seq))
        )
    )
