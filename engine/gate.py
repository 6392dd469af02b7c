"""The identity gate: nothing leaves and nothing changes before the requester is verified.

EDPB Guidelines 01/2022 §§65-79: the requester proves control of a contact point the
controller already holds — a single-use link and code go to the address as the processors
have it on file, never to another address named in the request. Staff verification and
authenticated channels pass with the reason recorded; an address no processor holds is
answered "no data held" at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from connectors.base import Subject
from dsar import lifecycle
from dsar.enums import RequestStatus
from dsar.models import Request
from dsar.plan import MANUAL
from dsar.register import Register
from dsar.settings import get_settings
from dsar.store import session_scope
from engine.answers import answer_no_data
from engine.context import connector_for, load
from engine.notices import send_to_subject


async def _located_anywhere(request: Request, register: Register) -> bool:
    """Whether any connected processor holds the request's e-mail address on file (asked
    with the request's controller's own credentials)."""
    recipients = {r.connector: r.key for r in register.recipients if r.connector != MANUAL}
    subject = Subject(emails=(request.email,))
    connectors = [
        connector_for(request.controller, name, recipient=recipients[name])
        for name in sorted(recipients)
    ]
    results = await asyncio.gather(*(c.locate(subject) for c in connectors))
    return any(r.found for r in results)


@dataclass(frozen=True)
class Gate:
    """What the identity gate decided: whether processing may go on, and the request's status
    (the one it now waits in, when it may not)."""

    passed: bool
    status: RequestStatus


async def identity_gate(request_id: str) -> Gate:
    """Whether processing may go on; if not, the status the request now waits in.

    No data leaves and nothing changes before the requester proves control of a contact point
    already on file: a single-use link and code go to the address as the processors hold it —
    never to another address named in the request. Staff verification and authenticated
    channels (Shopify compliance webhooks) pass with the reason recorded. When no processor
    holds the address there is nothing to disclose or change: the request is answered "no data
    held" and closed.
    """
    from dsar import identity
    from dsar.contact import contact_on_file, is_authenticated_channel
    from dsar.uslaw import NO_VERIFICATION_KINDS

    loaded = load(request_id)
    request = loaded.request
    if request.status in lifecycle.FINAL:
        return Gate(passed=False, status=request.status)
    if (
        request.status
        in (
            RequestStatus.IN_PROGRESS,
            RequestStatus.AWAITING_MANUAL,
            RequestStatus.FAILED,
        )
        or request.verified_at is not None
        or is_authenticated_channel(request)
        or request.kind in NO_VERIFICATION_KINDS  # 11 CCR § 7026(d), § 7027(e)
    ):
        return Gate(passed=True, status=request.status)
    if request.status is RequestStatus.VERIFYING:
        # a challenge is out; the verify link resumes processing
        return Gate(passed=False, status=request.status)
    if not await _located_anywhere(request, loaded.register):
        answer_no_data(request_id)
        return Gate(passed=False, status=RequestStatus.COMPLETED)
    contact = contact_on_file(request.email, [request.email])
    assert contact is not None  # noqa: S101 - located above under this very address
    with session_scope() as session:
        stored = session.get(Request, request_id)
        assert stored is not None  # noqa: S101
        challenge, token, code = identity.issue_challenge(
            session, request=stored, tz=loaded.register.controller.timezone
        )
    send_to_subject(
        request_id,
        purpose="verification",
        template="verification",
        to=contact,
        context={
            "verify_url": identity.verification_url(get_settings().public_url, token),
            "code": code,
            "expires_at": challenge.expires_at,
        },
    )
    return Gate(passed=False, status=RequestStatus.VERIFYING)
