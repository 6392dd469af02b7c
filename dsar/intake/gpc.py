"""Global Privacy Control: a browser's opt-out preference signal, honoured as an opt-out.

11 CCR § 7025: a business that sells or shares personal information treats an opt-out
preference signal (``Sec-GPC: 1``) as a valid request to opt out of sale and sharing for that
browser and for any consumer profile associated with it; Colorado requires the same of
universal opt-out mechanisms (C.R.S. § 6-1-1306(1)(a)(IV)). The identity the browser makes
known here is the e-mail address it posts, so the signal becomes an opt-out request for that
address: stored once per delivery, carried out without identity verification (§ 7026(d)).
A controller under a law that knows no opt-out (the GDPR) records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from dsar.enums import Channel, RequestKind
from dsar.intake.forms import validate_form
from dsar.intake.store import Receipt, _store, resolve_register
from dsar.models import RequestCreate
from dsar.uslaw import US_REGIMES

GPC_HEADER = "sec-gpc"
GPC_BASIS = "Global Privacy Control signal (Sec-GPC: 1), 11 CCR § 7025"


def gpc_signalled(headers: Mapping[str, str]) -> bool:
    """Whether the request carries the opt-out preference signal (the header's value is 1)."""
    return (headers.get(GPC_HEADER) or "").strip() == "1"


def record_gpc_opt_out(
    session: Session,
    *,
    fields: dict[str, Any],
    key: str,
    digest: str,
    channel: Channel,
    actor: str,
) -> Receipt | None:
    """Store an opt-out for the address the browser posted; ``None`` where none applies.

    ``key`` is the delivery's own key: the opt-out is stored under ``gpc:<key>``, so a repeated
    delivery finds it. A post that is itself an opt-out needs no second one.
    """
    try:
        form = validate_form(fields)
    except ValidationError:
        return None
    if form.kind is RequestKind.OPT_OUT:
        return None
    register = resolve_register(form.controller)
    regime = register.regime_for()
    if regime not in US_REGIMES:
        return None
    create = RequestCreate(
        controller=register.controller.key,
        kind=RequestKind.OPT_OUT,
        channel=channel,
        language=form.language or register.controller.default_language,
        email=form.email,
        name=form.name,
        idempotency_key=f"gpc:{key}",
        details={"signal": GPC_BASIS},
    )
    request, body = _store(session, create=create, register=register, actor=actor, digest=digest)
    return Receipt(body=body, request_id=request.id, start=True)
