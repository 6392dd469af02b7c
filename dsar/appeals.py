"""Appeals of denied US requests: opened by the consumer, decided by staff with reasons.

Virginia, Colorado, Connecticut, Texas and other states require a business to let a consumer
appeal the refusal of a request, to decide the appeal within a period of its own (Virginia and
Connecticut 60 days, Colorado 45 extendable by 60, ...; :mod:`dsar.uslaw`) and, when it denies
the appeal, to tell the consumer how to contact the state's Attorney General. California's law
knows no appeal, so a CCPA denial cannot be appealed here. Granting an appeal reverses the
denial: the request is recorded again, under a new reference, and carried out like any other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from dsar.appeal_records import Appeal, AppealStatus
from dsar.audit import append_event
from dsar.deadlines import appeal_deadlines
from dsar.enums import RequestStatus
from dsar.errors import InputError, NotFoundError
from dsar.models import Request, RequestCreate, utcnow
from dsar.register import Register
from dsar.service import submit_request
from dsar.store import by_id_or_prefix
from dsar.uslaw import StateLaw, law_of


def law_for_appeal(request: Request) -> StateLaw:
    """The state law that gives the consumer an appeal of this request, or InputError."""
    law = law_of(request.regime)
    if law is None or not law.requires_appeals:
        raise InputError(
            f"the {request.regime.value} regime provides no appeal of a denied request"
        )
    return law


def open_appeal(
    session: Session,
    *,
    request: Request,
    register: Register,
    reason: str,
    actor: str,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> Appeal:
    """Record the consumer's appeal of ``request`` with its deadline under the state's law.

    Only a denied (``rejected``) request under a law that requires appeals can be appealed,
    once; anything else is an :class:`InputError` and nothing is stored.
    """
    if request.status is not RequestStatus.REJECTED:
        raise InputError(
            f"request {request.id} is {request.status.value}: only a denied (rejected) request "
            "can be appealed"
        )
    law = law_for_appeal(request)
    if not reason.strip():
        raise InputError("an appeal needs the consumer's reason (--reason)")
    existing = session.exec(select(Appeal).where(Appeal.request_id == request.id)).first()
    if existing is not None:
        raise InputError(f"request {request.id} has already been appealed: appeal {existing.id}")
    moment = received_at or now or utcnow()
    if moment > (now or utcnow()) + timedelta(minutes=5):
        raise InputError("the appeal's receipt lies in the future")
    assert law.appeal_days is not None  # noqa: S101 - law_for_appeal checked it
    dates = appeal_deadlines(
        appeal_days=law.appeal_days,
        extension_days=law.appeal_extension_days,
        received_at=moment,
        tz=register.controller.timezone,
    )
    appeal = Appeal(
        request_id=request.id,
        regime=request.regime.value,
        reason=reason.strip(),
        received_at=moment,
        received_on=dates.received_on,
        due_date=dates.due_date,
        effective_due_date=dates.due_date,
    )
    session.add(appeal)
    session.flush()
    append_event(
        session,
        action="appeal_opened",
        actor=actor,
        request_id=request.id,
        data={
            "appeal_id": appeal.id,
            "received_on": appeal.received_on.isoformat(),
            "due_date": appeal.due_date.isoformat(),
            "regime": appeal.regime,
        },
    )
    return appeal


def extend_appeal(session: Session, *, appeal: Appeal, reason: str, actor: str) -> Appeal:
    """Use the state's extension of the appeal period (Colorado: 60 further days)."""
    law = law_of(appeal.regime)
    if law is None or not law.appeal_extension_days:
        raise InputError(f"the {appeal.regime} regime allows no extension of an appeal")
    if appeal.status is not AppealStatus.OPEN:
        raise InputError(f"appeal {appeal.id} is already {appeal.status.value}")
    if appeal.extended_due_date is not None:
        raise InputError(f"appeal {appeal.id} has already been extended")
    if not reason.strip():
        raise InputError("an extension needs a reason (told to the consumer)")
    appeal.extended_due_date = appeal.due_date + timedelta(days=law.appeal_extension_days)
    appeal.effective_due_date = appeal.extended_due_date
    session.add(appeal)
    append_event(
        session,
        action="appeal_extended",
        actor=actor,
        request_id=appeal.request_id,
        data={"appeal_id": appeal.id, "extended_due_date": appeal.extended_due_date.isoformat()},
    )
    return appeal


def decide_appeal(
    session: Session,
    *,
    appeal: Appeal,
    register: Register,
    granted: bool,
    reasons: str,
    actor: str,
) -> tuple[Appeal, Request | None]:
    """Record staff's decision with its reasons; a granted appeal records the request again.

    Returns the appeal and, when granted, the new request that carries out what was denied.
    """
    if appeal.status is not AppealStatus.OPEN:
        raise InputError(f"appeal {appeal.id} has already been decided ({appeal.status.value})")
    if not reasons.strip():
        raise InputError("a decision on an appeal needs its reasons (--reason)")
    original = session.get(Request, appeal.request_id)
    if original is None:
        raise NotFoundError(f"no request with id {appeal.request_id!r}")
    appeal.status = AppealStatus.GRANTED if granted else AppealStatus.DENIED
    appeal.decision = reasons.strip()
    appeal.decided_by = actor
    appeal.decided_at = utcnow()
    session.add(appeal)
    again: Request | None = None
    if granted:
        create = RequestCreate(
            controller=original.controller,
            kind=original.kind,
            channel=original.channel,
            language=original.language,
            email=original.email,
            name=original.name,
            phone=original.phone,
            customer_id=original.customer_id,
            residence_country=original.residence_country,
            residence_subdivision=original.residence_subdivision,
            idempotency_key=f"appeal:{appeal.id}",
            details={**_carried(original.details), "appeal_of": original.id},
        )
        again, _ = submit_request(session, create=create, register=register, actor=actor)
    append_event(
        session,
        action="appeal_decided",
        actor=actor,
        request_id=appeal.request_id,
        data={
            "appeal_id": appeal.id,
            "status": appeal.status.value,
            **({"new_request_id": again.id} if again is not None else {}),
        },
    )
    return appeal, again


def _carried(details: dict[str, Any]) -> dict[str, Any]:
    """What a request granted on appeal keeps of the original: the changes asked for."""
    return {"changes": details["changes"]} if details.get("changes") else {}


def get_appeal(session: Session, appeal_id: str) -> Appeal:
    """The appeal with this id (or a unique prefix of 6+), or :class:`NotFoundError`."""
    return by_id_or_prefix(session, Appeal, appeal_id, noun="appeal")


def list_appeals(session: Session, *, open_only: bool = False, limit: int = 200) -> list[Appeal]:
    """Appeals by the date they must be decided, soonest first."""
    query = select(Appeal)
    if open_only:
        query = query.where(Appeal.status == AppealStatus.OPEN)
    query = query.order_by(col(Appeal.effective_due_date), col(Appeal.received_at)).limit(limit)
    return list(session.exec(query))


def appeal_payload(appeal: Appeal) -> dict[str, Any]:
    """What ``--json`` prints: the appeal without the consumer's identity."""

    def iso(value: Any) -> Any:
        return value.isoformat() if value is not None else None

    return {
        "id": appeal.id,
        "request_id": appeal.request_id,
        "status": appeal.status.value,
        "regime": appeal.regime,
        "received_on": iso(appeal.received_on),
        "due_date": iso(appeal.due_date),
        "extended_due_date": iso(appeal.extended_due_date),
        "effective_due_date": iso(appeal.effective_due_date),
        "decision": appeal.decision,
        "decided_at": iso(appeal.decided_at),
    }
