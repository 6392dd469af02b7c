"""Storing and reading requests: the persistence side every channel (CLI, intake, flows) shares.

Functions are keyword-only and receive the session; the caller owns the transaction, so a
request and its first audit event are committed together or not at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from dsar import lifecycle
from dsar.audit import append_event
from dsar.deadlines import ClockStop, compute_deadlines, receipt_date
from dsar.enums import RequestKind, RequestStatus
from dsar.errors import InputError
from dsar.models import Request, RequestCreate, utcnow
from dsar.refusal import flag_repeats
from dsar.register import Register
from dsar.settings import get_settings
from dsar.store import by_id_or_prefix
from dsar.uslaw import NO_VERIFICATION_GROUND, NO_VERIFICATION_KINDS, check_kind_allowed


def default_idempotency_key(create: RequestCreate, received_at: datetime) -> str:
    """A key for requests that came without one: same person, kind and moment → same request."""
    basis = "|".join(
        [create.controller, create.kind.value, create.email.lower(), received_at.isoformat()]
    )
    return "auto:" + hashlib.sha256(basis.encode()).hexdigest()[:40]


def submit_request(
    session: Session,
    *,
    create: RequestCreate,
    register: Register,
    actor: str,
    now: datetime | None = None,
) -> tuple[Request, bool]:
    """Store a new request with its statutory deadlines; return it and whether it was new.

    The clock starts at ``received_at`` (EDPB 01/2022 §159: when the request reaches an official
    channel), not when staff enter it. A request whose idempotency key is already stored
    returns the stored request unchanged.
    """
    if create.controller != register.controller.key:
        raise InputError("the register does not belong to the request's controller")
    received_at = create.received_at or now or utcnow()
    if received_at > (now or utcnow()) + timedelta(minutes=5):
        raise InputError("received_at lies in the future")
    key = create.idempotency_key or default_idempotency_key(create, received_at)
    existing = session.exec(select(Request).where(Request.idempotency_key == key)).first()
    if existing is not None:
        return existing, False

    regime = register.regime_for(
        country=create.residence_country, subdivision=create.residence_subdivision
    )
    check_kind_allowed(create.kind, regime)
    ctl = register.controller
    deadlines = compute_deadlines(
        regime=regime,
        received_at=received_at,
        country=ctl.country,
        subdivision=ctl.subdivision,
        tz=ctl.timezone,
        kind=create.kind,
    )
    request = Request(
        **create.model_dump(exclude={"received_at", "verified_by", "idempotency_key"}),
        regime=regime,
        idempotency_key=key,
        received_at=received_at,
        received_on=deadlines.received_on,
        due_date=deadlines.due_date,
        extended_due_date=None,
        effective_due_date=deadlines.due_date,
        extension_notice_by=deadlines.extension_notice_by,
        acknowledge_by=deadlines.acknowledge_by,
    )
    session.add(request)
    session.flush()
    append_event(
        session,
        action="request_received",
        actor=actor,
        request_id=request.id,
        data={
            "kind": request.kind.value,
            "channel": request.channel.value,
            "regime": regime.value,
            "received_on": deadlines.received_on.isoformat(),
            "due_date": deadlines.due_date.isoformat(),
        },
    )
    if create.verified_by:
        mark_verified(session, request=request, how=create.verified_by, actor=actor)
    elif request.kind in NO_VERIFICATION_KINDS:
        append_event(
            session,
            action="verification_not_required",
            actor=actor,
            request_id=request.id,
            data={"ground": NO_VERIFICATION_GROUND},
        )
    flag_repeats(
        session,
        request=request,
        window_days=get_settings().repeat_request_window_days,
        actor=actor,
    )
    return request, True


def mark_verified(session: Session, *, request: Request, how: str, actor: str) -> Request:
    """Record that the requester's identity was verified, and how (EDPB 01/2022 §§65-79).

    Only the method is recorded, never a copy of an identity document.
    """
    request.verified_at = utcnow()
    request.verified_by = how
    session.add(request)
    append_event(session, action="identity_verified", actor=actor, request_id=request.id, data={})
    return request


def get_request(session: Session, request_id: str) -> Request:
    """The request with this id, or :class:`NotFoundError`. A unique prefix of 6+ also works."""
    return by_id_or_prefix(session, Request, request_id, noun="request")


def list_requests(
    session: Session,
    *,
    statuses: Sequence[RequestStatus] | None = None,
    controller: str | None = None,
    limit: int = 200,
) -> list[Request]:
    """Requests by effective due date, soonest first."""
    query = select(Request)
    if statuses:
        query = query.where(col(Request.status).in_(list(statuses)))
    if controller:
        query = query.where(Request.controller == controller)
    query = query.order_by(col(Request.effective_due_date), col(Request.received_at)).limit(limit)
    return list(session.exec(query))


def recompute_deadlines(*, request: Request, register: Register) -> None:
    """Re-derive due dates after a clock stop or an extension (Reg. 1182/71 rules apply again)."""
    ctl = register.controller
    stops = [
        ClockStop(
            start=datetime.fromisoformat(s["start"]).date(),
            end=datetime.fromisoformat(s["end"]).date(),
        )
        for s in request.clock_stops
        if s.get("end")
    ]
    deadlines = compute_deadlines(
        regime=request.regime,
        received_at=request.received_at,
        country=ctl.country,
        subdivision=ctl.subdivision,
        tz=ctl.timezone,
        clock_stops=stops,
        kind=request.kind,
    )
    request.due_date = deadlines.due_date
    request.extension_notice_by = deadlines.extension_notice_by
    request.extended_due_date = deadlines.extended_due_date if request.extended else None
    request.effective_due_date = request.extended_due_date or request.due_date


def controller_today(register: Register, now: datetime | None = None) -> date:
    """Today's date where the controller is: the day deadlines are counted in."""
    return receipt_date(now or utcnow(), register.controller.timezone)


def extend_request(
    session: Session,
    *,
    request: Request,
    register: Register,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> Request:
    """Extend the deadline (GDPR Art. 12(3): by two further months; CCPA: to 90 days).

    The subject must be told within the first period, with reasons: an extension asked for
    after that period's last day is refused, naming the day. The caller sends the notice and
    records ``extension_notified_at``.
    """
    if request.status in lifecycle.FINAL:
        raise InputError(f"request is {request.status.value}; a closed request cannot be extended")
    if request.extended:
        raise InputError("the deadline of this request has already been extended")
    if not reason.strip():
        raise InputError("an extension needs a reason (Art. 12(3))")
    last_day = request.extension_notice_by
    today = controller_today(register, now)
    if last_day is not None and today > last_day:
        raise InputError(
            f"the first period ended on {last_day.isoformat()}: an extension had to be decided "
            f"and told to the subject by then (Art. 12(3)); the answer was due "
            f"{request.due_date.isoformat()}"
        )
    request.extended = True
    request.extension_reason = reason.strip()
    recompute_deadlines(request=request, register=register)
    if request.extended_due_date is None:
        request.extended = False
        raise InputError(f"the {request.regime.value} regime allows no extension")
    request.updated_at = utcnow()
    session.add(request)
    append_event(
        session,
        action="deadline_extended",
        actor=actor,
        request_id=request.id,
        data={"extended_due_date": request.extended_due_date.isoformat()},
    )
    return request


def send_extension_notice(session: Session, *, request: Request, register: Register) -> None:
    """Tell the subject of the extension and its reasons (Art. 12(3): within the first month).

    Recorded as a Notice (sent once, however often this runs) and as
    ``extension_notified_at`` on the request.
    """
    from dsar.notify import render, send_to_subject

    subject, body = render(
        "extension",
        request.language,
        controller=register.controller,
        reference=request.id,
        kind=request.kind.value,
        received_on=request.received_on,
        new_due_date=request.extended_due_date,
        reasons=request.extension_reason,
        regime=request.regime.value,
    )
    notice = send_to_subject(
        session, request=request, purpose="extension", subject=subject, body=body
    )
    request.extension_notified_at = notice.sent_at
    session.add(request)


def withdraw_request(session: Session, *, request: Request, actor: str) -> Request:
    """The subject takes the request back; open steps are not carried out any further."""
    return lifecycle.transition(
        session,
        request=request,
        target=RequestStatus.WITHDRAWN,
        actor=actor,
        reason="withdrawn by the data subject",
    )


KIND_ARTICLES: dict[RequestKind, str] = {
    RequestKind.ACCESS: "Art. 15",
    RequestKind.RECTIFICATION: "Art. 16",
    RequestKind.ERASURE: "Art. 17",
    RequestKind.RESTRICTION: "Art. 18",
    RequestKind.PORTABILITY: "Art. 20",
    RequestKind.OBJECTION: "Art. 21 / Art. 7(3)",
    RequestKind.OPT_OUT: "Cal. Civ. Code § 1798.120",
    RequestKind.LIMIT_SENSITIVE: "Cal. Civ. Code § 1798.121",
}
