"""The identity gate: no data is disclosed or changed before the requester proves control of a
contact point the controller already holds.

Researchers posing as data subjects obtained other people's data from about a quarter of the
organisations they asked ("GDPArrrrr", Black Hat 2019; Di Martino et al., SOUPS 2019). EDPB
Guidelines 01/2022 §§65-79 name the proportionate answer: use what is already on file. So the
engine sends a single-use, expiring link (and a 6-digit code for when links are mangled) to the
address the processors' own records hold — never to an address the request supplies — and acts
only once it comes back.

While the engine waits, the clock is stopped (this project's rule on EDPB 01/2022 §159: the days
from the question to the answer, both included, are added to the due date). A challenge that
expires unanswered, or a code guessed wrongly too often, ends in rejection with a reason
(Art. 12(4)). Only hashes of tokens and codes are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from dsar import lifecycle
from dsar.audit import append_event
from dsar.enums import RequestStatus
from dsar.errors import IdentityError
from dsar.models import Request, VerificationChallenge, new_id, utcnow
from dsar.settings import get_settings

#: How a request was verified when the requester followed the link or entered the code.
BY_LINK = "e-mail link"
BY_CODE = "e-mail code"

#: The actor written to the audit trail for the gate's own decisions.
ACTOR = "identity"

#: Keys of ``Request.details`` through which a requester may ask for delivery elsewhere.
DELIVERY_OVERRIDE_KEYS: tuple[str, ...] = ("deliver_to", "send_to", "reply_to")

REASON_TOO_MANY_CODES = "identity not verified: too many wrong codes"
REASON_EXPIRED = "identity not verified: the confirmation link expired"

# One message for every token that cannot be used, so a caller learns nothing from trying.
_INVALID = "the confirmation link or code is invalid or has already been used"
_EXPIRED = "the confirmation link or code has expired"

#: Statuses in which a request can still be verified.
_AWAITING = frozenset({RequestStatus.RECEIVED, RequestStatus.VERIFYING})


# --------------------------------------------------------------------------------------------
# Secrets and hashes
# --------------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """SHA-256 of a link token: 256 random bits need no salt, and a leak yields no usable link."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def hash_code(code: str, *, challenge_id: str, token_hash: str) -> str:
    """HMAC-SHA256 of a 6-digit code, keyed per challenge.

    A bare SHA-256 of six digits is reversed from a precomputed table of a million entries;
    the per-challenge key defeats that. It cannot make a million guesses expensive for someone
    holding the database — what protects a code is its short life and the attempt limit.
    """
    key = f"{challenge_id}:{token_hash}".encode()
    return hmac.new(key, code.encode("utf-8"), hashlib.sha256).hexdigest()


def verification_url(public_url: str, token: str) -> str:
    """The link the requester opens: ``{public_url}/verify/{token}``."""
    return f"{public_url.rstrip('/')}/verify/{token}"


def _normalise_code(code: str) -> str:
    return "".join(code.split()).replace("-", "")


# --------------------------------------------------------------------------------------------
# The clock stop
# --------------------------------------------------------------------------------------------

ZoneLookup = Callable[[str], str]


def _controller_zone(controller: str) -> str:
    from dsar.register import register_for

    return register_for(controller).controller.timezone


def _zone(request: Request, tz: str | ZoneLookup | None) -> ZoneInfo:
    if tz is None:
        return ZoneInfo(_controller_zone(request.controller))
    return ZoneInfo(tz if isinstance(tz, str) else tz(request.controller))


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def _open_clock_stop(request: Request, day: date) -> None:
    stops: list[dict[str, Any]] = [dict(stop) for stop in request.clock_stops]
    if any(stop.get("end") is None for stop in stops):
        return  # a re-sent challenge continues the stop that began with the first question
    stops.append({"start": day.isoformat(), "end": None})
    request.clock_stops = stops  # a new list, so the JSON column is seen as changed


def _close_clock_stop(request: Request, day: date) -> None:
    stops: list[dict[str, Any]] = []
    for stop in request.clock_stops:
        entry = dict(stop)
        if entry.get("end") is None:
            # Both days count (legal.md): the answer cannot come before the question.
            entry["end"] = max(day, date.fromisoformat(str(entry["start"]))).isoformat()
        stops.append(entry)
    request.clock_stops = stops


# --------------------------------------------------------------------------------------------
# Challenges
# --------------------------------------------------------------------------------------------


def _open_challenges(session: Session, request_id: str) -> list[VerificationChallenge]:
    return list(
        session.exec(
            select(VerificationChallenge)
            .where(
                VerificationChallenge.request_id == request_id,
                col(VerificationChallenge.used_at).is_(None),
                col(VerificationChallenge.revoked_at).is_(None),
            )
            .order_by(col(VerificationChallenge.created_at).desc())
            .with_for_update()
        )
    )


def issue_challenge(
    session: Session,
    *,
    request: Request,
    tz: str | None = None,
    now: datetime | None = None,
    ttl_hours: int | None = None,
    max_attempts: int | None = None,
) -> tuple[VerificationChallenge, str, str]:
    """Create a challenge; return it with the plain token and code, which are never stored.

    Earlier open challenges of the request are revoked (only the latest message works). The
    request moves to ``verifying`` and a clock stop opens on today's date in the controller's
    zone ``tz`` (looked up in its register when not given). The caller sends the token and
    code — :func:`verification_url`, the ``verification`` template — to the address
    :func:`contact_on_file` returned, and commits.
    """
    if request.status not in _AWAITING:
        raise IdentityError(f"request {request.id} is {request.status.value}; nothing to verify")
    if request.verified_at is not None:
        raise IdentityError(f"request {request.id} is already verified")
    settings = get_settings()
    ttl = ttl_hours or settings.verification_ttl_hours
    moment = now or utcnow()
    for earlier in _open_challenges(session, request.id):
        earlier.revoked_at = moment
        session.add(earlier)
    token = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(1_000_000):06d}"
    challenge_id = new_id()
    token_hash = hash_token(token)
    challenge = VerificationChallenge(
        id=challenge_id,
        request_id=request.id,
        token_hash=token_hash,
        code_hash=hash_code(code, challenge_id=challenge_id, token_hash=token_hash),
        channel="email",
        created_at=moment,
        expires_at=moment + timedelta(hours=ttl),
        max_attempts=max_attempts or settings.verification_max_attempts,
    )
    session.add(challenge)
    _open_clock_stop(request, _local_day(moment, _zone(request, tz)))
    if request.status == RequestStatus.RECEIVED:
        lifecycle.transition(session, request=request, target=RequestStatus.VERIFYING, actor=ACTOR)
    request.updated_at = moment
    session.add(request)
    append_event(
        session,
        action="identity_challenge_issued",
        actor=ACTOR,
        request_id=request.id,
        data={"channel": challenge.channel, "ttl_hours": ttl},
    )
    session.flush()
    return challenge, token, code


def _accept(
    session: Session,
    *,
    challenge: VerificationChallenge,
    how: str,
    moment: datetime,
    tz: str | ZoneLookup | None,
) -> Request:
    request = _awaiting(session, challenge)
    challenge.used_at = moment
    session.add(challenge)
    request.verified_at = moment
    request.verified_by = how
    request.updated_at = moment
    _close_clock_stop(request, _local_day(moment, _zone(request, tz)))
    session.add(request)
    append_event(
        session,
        action="identity_verified",
        actor=ACTOR,
        request_id=request.id,
        data={"method": how},
    )
    session.flush()
    return request


def _awaiting(session: Session, challenge: VerificationChallenge) -> Request:
    request = session.get(Request, challenge.request_id)
    if request is None or request.status not in _AWAITING or request.verified_at is not None:
        raise IdentityError(_INVALID)
    return request


def _check_usable(
    challenge: VerificationChallenge | None, moment: datetime
) -> VerificationChallenge:
    if challenge is None or challenge.used_at is not None or challenge.revoked_at is not None:
        raise IdentityError(_INVALID)
    if moment >= challenge.expires_at:
        raise IdentityError(_EXPIRED)
    return challenge


def _challenge_for_token(
    session: Session, token: str, *, for_update: bool
) -> VerificationChallenge | None:
    statement = select(VerificationChallenge).where(
        VerificationChallenge.token_hash == hash_token(token)
    )
    return session.exec(statement.with_for_update() if for_update else statement).first()


def check_token(session: Session, *, token: str, now: datetime | None = None) -> Request:
    """The request a link would verify, leaving the link unused and the request unchanged.

    Mail scanners and link previews open links before the requester does; opening the link
    therefore only shows a confirmation button, and :func:`verify_token` runs when it is
    pressed. Fails exactly when :func:`verify_token` would, with the same errors.
    """
    challenge = _check_usable(
        _challenge_for_token(session, token, for_update=False), now or utcnow()
    )
    return _awaiting(session, challenge)


def verify_token(
    session: Session,
    *,
    token: str,
    now: datetime | None = None,
    tz: str | ZoneLookup | None = None,
) -> Request:
    """Accept a link: mark the challenge used, the request verified, and close the clock stop.

    Unknown, used and revoked tokens fail alike. Returns the request; the caller starts
    processing it and commits. ``tz`` is a zone name or a lookup from controller key to zone;
    by default the controller's register says.
    """
    moment = now or utcnow()
    usable = _check_usable(_challenge_for_token(session, token, for_update=True), moment)
    return _accept(session, challenge=usable, how=BY_LINK, moment=moment, tz=tz)


def verify_code(
    session: Session,
    *,
    request_id: str,
    code: str,
    now: datetime | None = None,
    tz: str | ZoneLookup | None = None,
) -> Request:
    """Accept the 6-digit code of the request's open challenge, like :func:`verify_token`.

    A wrong code counts an attempt; the last allowed wrong attempt rejects the request
    (Art. 12(4), with the reason). Failed attempts are **committed** before the error is
    raised: a caller that rolls back on error must not hand a guesser unlimited tries.
    """
    moment = now or utcnow()
    open_ = _open_challenges(session, request_id)
    challenge = _check_usable(open_[0] if open_ else None, moment)
    expected = challenge.code_hash
    given = hash_code(
        _normalise_code(code), challenge_id=challenge.id, token_hash=challenge.token_hash
    )
    if hmac.compare_digest(expected, given):
        return _accept(session, challenge=challenge, how=BY_CODE, moment=moment, tz=tz)
    challenge.attempts += 1
    session.add(challenge)
    if challenge.attempts < challenge.max_attempts:
        append_event(
            session,
            action="identity_code_wrong",
            actor=ACTOR,
            request_id=request_id,
            data={"attempts": challenge.attempts, "max_attempts": challenge.max_attempts},
        )
        session.commit()
        left = challenge.max_attempts - challenge.attempts
        raise IdentityError(f"wrong code; {left} attempt(s) left")
    challenge.revoked_at = moment
    _reject(session, request_id=request_id, reason=REASON_TOO_MANY_CODES, moment=moment, tz=tz)
    session.commit()
    raise IdentityError("wrong code; too many attempts, the request has been rejected")


def _reject(
    session: Session,
    *,
    request_id: str,
    reason: str,
    moment: datetime,
    tz: str | ZoneLookup | None,
) -> Request | None:
    request = session.get(Request, request_id)
    if request is None or request.status not in _AWAITING or request.verified_at is not None:
        return None  # already decided, or verified by other means: nothing to reject
    _close_clock_stop(request, _local_day(moment, _zone(request, tz)))
    lifecycle.transition(
        session, request=request, target=RequestStatus.REJECTED, actor=ACTOR, reason=reason
    )
    return request


def expire_challenges(
    session: Session, *, now: datetime | None = None, tz: str | ZoneLookup | None = None
) -> list[str]:
    """Reject every unverified request whose latest challenge expired unanswered; return ids.

    The deadline monitor calls this on its schedule and commits. The requester is then told
    (``rejection`` template) and may submit again.
    """
    moment = now or utcnow()
    expired = session.exec(
        select(VerificationChallenge)
        .where(
            col(VerificationChallenge.used_at).is_(None),
            col(VerificationChallenge.revoked_at).is_(None),
            col(VerificationChallenge.expires_at) <= moment,
        )
        .order_by(col(VerificationChallenge.expires_at))
        .with_for_update()
    ).all()
    rejected: list[str] = []
    for challenge in expired:
        challenge.revoked_at = moment
        session.add(challenge)
        request = _reject(
            session, request_id=challenge.request_id, reason=REASON_EXPIRED, moment=moment, tz=tz
        )
        if request is not None:
            rejected.append(request.id)
    session.flush()
    return rejected


# --------------------------------------------------------------------------------------------
# Where the challenge may go, and who needs none
# --------------------------------------------------------------------------------------------
