"""Where an identity challenge may go, and which channels need none (authenticated ones)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from dsar.audit import append_event
from dsar.enums import Channel
from dsar.errors import IdentityError
from dsar.identity import (
    ACTOR,
    DELIVERY_OVERRIDE_KEYS,
)
from dsar.models import Request, utcnow


def contact_on_file(request_email: str, located_emails: Sequence[str]) -> str | None:
    """The address to challenge: the processors' own record matching the request's e-mail.

    Matching ignores case and surrounding space; the address returned is spelled as the
    processor holds it. ``None`` when no processor holds the address — then the answer is
    "no data held" and nothing leaves. An address the request names for delivery is never a
    candidate: only ``located_emails`` (what the processors returned) are.
    """
    wanted = request_email.strip().casefold()
    for located in located_emails:
        if located.strip().casefold() == wanted:
            return located.strip()
    return None


def delivery_override(request: Request) -> str | None:
    """The ``details`` key through which a request asks for delivery to another address."""
    own = request.email.strip().casefold()
    for key in DELIVERY_OVERRIDE_KEYS:
        value = request.details.get(key)
        if isinstance(value, str) and value.strip() and value.strip().casefold() != own:
            return key
    return None


def flag_delivery_override(session: Session, *, request: Request, actor: str = ACTOR) -> bool:
    """Record that a request asked for delivery elsewhere, and that it is ignored.

    Sending data to an address not on file is how impostors are served (EDPB 01/2022 §§65-79);
    the answer always goes to the contact point that passed verification. Returns whether a
    flag was set; the audit event names the field, not the address.
    """
    key = delivery_override(request)
    if key is None or request.details.get("delivery_override_ignored"):
        return False
    request.details = {**request.details, "delivery_override_ignored": True}
    session.add(request)
    append_event(
        session,
        action="delivery_override_ignored",
        actor=actor,
        request_id=request.id,
        data={"field": key},
    )
    return True


def authenticated_channel_reason(request: Request) -> str | None:
    """Why a request needs no e-mail challenge, or ``None`` when it does.

    Shopify's compliance webhooks are HMAC-signed by Shopify on behalf of a customer the shop
    has authenticated; a staff member who entered the request with ``--verified-by`` has
    checked the identity by other means (only the method is recorded, never a document).
    """
    if request.channel == Channel.SHOPIFY_WEBHOOK:
        return "Shopify compliance webhook (customer authenticated by the shop)"
    if request.channel == Channel.STAFF and request.verified_by:
        return "verified by staff"
    return None


def is_authenticated_channel(request: Request) -> bool:
    """Whether the request arrived through a channel that already authenticated the subject."""
    return authenticated_channel_reason(request) is not None


def accept_authenticated_channel(
    session: Session, *, request: Request, actor: str = ACTOR, now: datetime | None = None
) -> Request:
    """Mark a request from an authenticated channel verified, recording the reason.

    A request already verified (staff ``--verified-by`` is recorded at submission) is left as
    is; a request from any other channel raises :class:`IdentityError`.
    """
    reason = authenticated_channel_reason(request)
    if reason is None:
        raise IdentityError(f"request {request.id} did not arrive through an authenticated channel")
    if request.verified_at is not None:
        return request
    moment = now or utcnow()
    request.verified_at = moment
    request.verified_by = request.verified_by or reason
    request.updated_at = moment
    session.add(request)
    append_event(
        session,
        action="identity_verified",
        actor=actor,
        request_id=request.id,
        data={"method": reason},
    )
    return request
