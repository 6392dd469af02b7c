"""Refusing a request (GDPR Art. 12(4)/(5); the US state laws' denials) and spotting repeats.

A controller may refuse a request that is manifestly unfounded or excessive, in particular
because of its repetitive character (Art. 12(5)(b)); it bears the burden of showing why, and
must tell the subject without delay the reasons, the right to lodge a complaint with a
supervisory authority and the right to a judicial remedy (Art. 12(4)). The US state laws allow
a denial on grounds of their own. Which grounds apply, and which letter tells the subject, are
chosen by the request's regime family here, in one place.

Repeated requests are only ever *flagged* to staff as possibly excessive: whether a repeat is
excessive is a judgement (EDPB 01/2022 §§186-191), never made automatically.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, func, select

from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import Regime, RequestStatus
from dsar.errors import InputError
from dsar.models import Request, utcnow
from dsar.register import Register

#: Art. 12(5) GDPR / UK GDPR.
GDPR_GROUNDS: tuple[str, ...] = ("manifestly-unfounded", "excessive")
#: CCPA (11 CCR §7023/§7024), VCDPA §59.1-577, CPA §6-1-1306: what a US denial may rest on.
US_GROUNDS: tuple[str, ...] = ("excessive", "unverifiable", "exempt")

GDPR_FAMILY: frozenset[Regime] = frozenset({Regime.GDPR, Regime.UK_GDPR})
US_FAMILY: frozenset[Regime] = frozenset({Regime.CCPA, Regime.VCDPA, Regime.CPA})

#: The audit action of a refusal and of a repeat flagged to staff.
REFUSED = "request_refused"
FLAGGED_REPEAT = "flagged_possibly_excessive"


def grounds_for(regime: Regime) -> tuple[str, ...]:
    """The grounds on which a request under ``regime`` may be refused."""
    if regime in GDPR_FAMILY:
        return GDPR_GROUNDS
    if regime in US_FAMILY:
        return US_GROUNDS
    return ()


def refusal_template(regime: Regime) -> str:
    """The letter that tells the subject of a refusal under ``regime``.

    ``refusal`` cites Art. 12(4)/(5) and the supervisory authority; ``refusal_us`` the state
    law's denial with its appeal. A template that is not installed is a clear error.
    """
    from dsar.notify import TEMPLATES

    if regime in GDPR_FAMILY:
        name = "refusal"
    elif regime in US_FAMILY:
        name = "refusal_us"
    else:
        raise InputError(f"the {regime.value} regime has no refusal procedure in this engine")
    if name not in TEMPLATES:
        raise InputError(
            f"no {name!r} letter is installed: a {regime.value} request cannot be refused yet"
        )
    return name


def check_refusal(request: Request, *, ground: str, reason: str) -> str:
    """Validate a refusal before anything changes; return the letter's template name."""
    status = RequestStatus(request.status)
    if status in lifecycle.FINAL:
        raise InputError(f"request is {status.value}; a closed request cannot be refused")
    if RequestStatus.REJECTED not in lifecycle.TRANSITIONS[status]:
        raise InputError(
            f"request is {status.value}: work on it has started, so it can no longer be refused"
        )
    allowed = grounds_for(request.regime)
    if ground not in allowed:
        listed = ", ".join(allowed) or "none"
        raise InputError(
            f"--ground: {ground!r} is not a ground for a {request.regime.value} request "
            f"(allowed: {listed})"
        )
    if not reason.strip():
        raise InputError("--reason: a refusal must tell the subject why (Art. 12(4))")
    return refusal_template(request.regime)


def letter_context(
    request: Request, register: Register, *, ground: str, reason: str
) -> dict[str, Any]:
    """What the refusal letter is rendered from: every sentence from the recorded refusal."""
    return {
        "controller": register.controller,
        "reference": request.id,
        "kind": request.kind.value,
        "received_on": request.received_on,
        "ground": ground,
        "reasons": reason.strip(),
        "regime": request.regime.value,
    }


def record_refusal(
    session: Session, *, request: Request, ground: str, reason: str, actor: str
) -> Request:
    """Record the ground and end the request ``rejected`` (one transaction; the caller commits)."""
    request.details = {**request.details, "refusal": {"ground": ground}}
    lifecycle.transition(
        session,
        request=request,
        target=RequestStatus.REJECTED,
        actor=actor,
        reason=reason.strip(),
    )
    append_event(
        session, action=REFUSED, actor=actor, request_id=request.id, data={"ground": ground}
    )
    return request


def refusal_ground(request: Request) -> str | None:
    """The recorded ground of a refused request, if any."""
    refusal = request.details.get("refusal")
    return str(refusal["ground"]) if isinstance(refusal, dict) and "ground" in refusal else None


def earlier_requests(
    session: Session, *, request: Request, window_days: int, now: datetime | None = None
) -> list[str]:
    """Ids of the same person's requests to the same controller within ``window_days`` before
    this one (same e-mail address, case-insensitive), oldest first."""
    since = (now or request.received_at or utcnow()) - timedelta(days=window_days)
    rows = session.exec(
        select(Request.id)
        .where(
            Request.controller == request.controller,
            func.lower(Request.email) == request.email.lower(),
            Request.id != request.id,
            col(Request.received_at) >= since,
            col(Request.received_at) <= request.received_at,
        )
        .order_by(col(Request.received_at))
    ).all()
    return list(rows)


def flag_repeats(session: Session, *, request: Request, window_days: int, actor: str) -> list[str]:
    """Flag ``request`` to staff as possibly excessive when the same person asked before within
    the window; return the earlier ids. Nothing is refused: staff decide (Art. 12(5))."""
    if window_days <= 0:
        return []
    earlier = earlier_requests(session, request=request, window_days=window_days)
    if earlier:
        request.details = {
            **request.details,
            "possibly_excessive": {"earlier": earlier, "window_days": window_days},
        }
        session.add(request)
        append_event(
            session,
            action=FLAGGED_REPEAT,
            actor=actor,
            request_id=request.id,
            data={"earlier": earlier, "window_days": window_days},
        )
    return earlier


def refuse_request(
    session: Session,
    *,
    request: Request,
    register: Register,
    ground: str,
    reason: str,
    actor: str,
) -> Request:
    """Refuse ``request`` on ``ground``: record it, end it ``rejected`` and tell the subject.

    Everything is checked and the letter rendered before anything is stored, so bad input
    changes nothing. The refusal is committed before the letter is sent; the letter is a
    Notice (purpose ``refusal``), sent once.
    """
    from dsar.notify import render, send_to_subject

    template = check_refusal(request, ground=ground, reason=reason)
    subject, body = render(
        template,
        request.language,
        **letter_context(request, register, ground=ground, reason=reason),
    )
    record_refusal(session, request=request, ground=ground, reason=reason, actor=actor)
    session.commit()
    send_to_subject(session, request=request, purpose="refusal", subject=subject, body=body)
    return request
