"""How sure a business must be of a US consumer's identity, and who may ask on their behalf.

The CCPA regulations grade verification by what the request discloses or destroys:

* § 7060(b), § 7026(d), § 7027(e): an opt-out or a limit needs no verification at all;
* § 7061(a): knowing the *categories* of personal information needs a reasonable degree of
  certainty — matching at least two data points the business keeps;
* § 7061(b): *specific pieces* need a reasonably high degree — at least three data points
  and a declaration signed by the consumer under penalty of perjury;
* § 7062: deletion (and, by § 7060(a), correction) a reasonable or a reasonably high degree
  depending on how sensitive the data is and the harm an unauthorised deletion would do.

§ 7063: an authorized agent may make the request with the consumer's signed permission; the
business may still have the consumer verify their identity directly, which the engine always
does (its challenge goes to the consumer's own address on file, never to the agent).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from dsar.audit import append_event
from dsar.enums import RequestKind
from dsar.errors import InputError
from dsar.models import Request
from dsar.register import Register
from dsar.service import mark_verified
from dsar.uslaw import NO_VERIFICATION_KINDS, is_us


class Level(StrEnum):
    """The degree of certainty the regulations ask for."""

    NONE = "none"
    REASONABLE = "reasonable"
    REASONABLY_HIGH = "reasonably_high"


@dataclass(frozen=True)
class Requirement:
    """A level with what it takes: matching data points and a signed declaration."""

    level: Level
    data_points: int
    declaration: bool
    ground: str


_REQUIREMENTS = {
    Level.NONE: Requirement(Level.NONE, 0, False, "11 CCR § 7026(d), § 7027(e)"),
    Level.REASONABLE: Requirement(Level.REASONABLE, 2, False, "11 CCR § 7061(a), § 7062(b)"),
    Level.REASONABLY_HIGH: Requirement(
        Level.REASONABLY_HIGH, 3, True, "11 CCR § 7061(b), § 7062(c)"
    ),
}


def required_level(
    kind: RequestKind, *, specific_pieces: bool = True, sensitive: bool = False
) -> Requirement:
    """What verifying a request of ``kind`` takes (see the module's text for the sections).

    ``specific_pieces``: an access request for the data itself (the default, as the engine
    sends a copy), not only its categories. ``sensitive``: the data a deletion or correction
    touches is sensitive, or its unauthorised deletion would harm the consumer.
    """
    if kind in NO_VERIFICATION_KINDS:
        return _REQUIREMENTS[Level.NONE]
    if kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        return _REQUIREMENTS[Level.REASONABLY_HIGH if specific_pieces else Level.REASONABLE]
    return _REQUIREMENTS[Level.REASONABLY_HIGH if sensitive else Level.REASONABLE]


def register_is_sensitive(register: Register) -> bool:
    """Whether the register records sensitive personal information (a ``special`` category)."""
    return any(category.special for category in register.categories)


def verify_us_request(
    session: Session,
    *,
    request: Request,
    register: Register,
    data_points: int,
    declaration: bool,
    how: str,
    actor: str,
    specific_pieces: bool = True,
) -> Requirement:
    """Mark a US request verified when the matching evidence meets its level; else InputError.

    Only the method and the counts are recorded, never the data points themselves.
    """
    if not is_us(request.regime):
        raise InputError(f"request {request.id} is under {request.regime.value}, not US law")
    if request.verified_at is not None:
        raise InputError(f"request {request.id} is already verified")
    need = required_level(
        request.kind, specific_pieces=specific_pieces, sensitive=register_is_sensitive(register)
    )
    if need.level is Level.NONE:
        raise InputError(f"a {request.kind.value} request needs no verification ({need.ground})")
    if data_points < need.data_points:
        raise InputError(
            f"a {need.level.value.replace('_', ' ')} degree of certainty needs at least "
            f"{need.data_points} matching data points ({need.ground}); {data_points} given"
        )
    if need.declaration and not declaration:
        raise InputError(
            "specific pieces of personal information need a declaration signed by the consumer "
            f"under penalty of perjury ({need.ground})"
        )
    if not how.strip():
        raise InputError("say how the data points were matched (--how)")
    summary = f"{how.strip()} — {need.level.value}: {data_points} data points"
    mark_verified(session, request=request, how=summary[:500], actor=actor)
    return need


def record_agent(
    session: Session, *, request: Request, agent: str, permission: str, actor: str
) -> Request:
    """Record that an authorized agent made the request, with the consumer's signed permission.

    The consumer still verifies their identity directly (§ 7063(a)): the engine's challenge goes
    to the consumer's address, and a staff verification needs the consumer's own data points.
    """
    if not is_us(request.regime):
        raise InputError(f"request {request.id} is under {request.regime.value}, not US law")
    if not agent.strip():
        raise InputError("name the authorized agent (--agent)")
    if not permission.strip():
        raise InputError(
            "an authorized agent needs the consumer's signed permission (11 CCR § 7063(a)); "
            "give where it is kept (--permission)"
        )
    if request.details.get("agent"):
        raise InputError(f"request {request.id} already records an authorized agent")
    request.details = {
        **request.details,
        "agent": {"name": agent.strip()[:200], "permission": permission.strip()[:500]},
    }
    session.add(request)
    append_event(
        session,
        action="authorized_agent_recorded",
        actor=actor,
        request_id=request.id,
        data={"consumer_verifies_directly": True},
    )
    return request
