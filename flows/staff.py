"""Flows staff start from the Prefect UI's run form: a request of any kind, typed parameters.

The subject's identities are ``SecretStr`` parameters, so Prefect masks them in its UI and
API; the flow stores them on the request and from then on passes only the request id.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from pydantic import BaseModel, SecretStr

from dsar.enums import Channel, RequestKind
from dsar.errors import InputError
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.store import session_scope
from flows.process import process_request

Kind = Literal["access", "rectification", "erasure", "restriction", "portability", "objection"]
Ground = Literal["manifestly-unfounded", "excessive", "unverifiable", "exempt"]


class Corrections(BaseModel):
    """The corrected values of a rectification (Art. 16), one per field; masked in the UI."""

    first_name: SecretStr | None = None
    last_name: SecretStr | None = None
    email: SecretStr | None = None
    phone: SecretStr | None = None
    address1: SecretStr | None = None
    address2: SecretStr | None = None
    city: SecretStr | None = None
    zip: SecretStr | None = None
    country: SecretStr | None = None

    def changes(self) -> dict[str, str]:
        """The fields given, with their values."""
        return {
            field: value.get_secret_value().strip()
            for field, value in self
            if isinstance(value, SecretStr) and value.get_secret_value().strip()
        }


@flow(name="staff-request", persist_result=False)
async def staff_request(
    controller: str,
    kind: Kind,
    email: SecretStr,
    name: SecretStr | None = None,
    verified_by: str | None = None,
    language: Literal["en", "de"] = "en",
    last_name_correction: str | None = None,
    corrections: Corrections | None = None,
) -> str:
    """Record a request received by letter, phone or in person, then carry it out.

    Without ``verified_by`` the requester gets the e-mail challenge first (EDPB 01/2022). A
    rectification needs at least one corrected value: it is never carried out empty.
    """
    changes = corrections.changes() if corrections is not None else {}
    if last_name_correction:
        changes.setdefault("last_name", last_name_correction)
    if kind == "rectification" and not changes:
        raise InputError("a rectification needs at least one corrected value (corrections)")
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller=controller,
                kind=RequestKind(kind),
                channel=Channel.STAFF,
                language=language,
                email=email.get_secret_value(),
                name=name.get_secret_value() if name else None,
                verified_by=verified_by,
                details={"changes": changes} if changes else {},
            ),
            register=register_for(controller),
            actor="staff:prefect-ui",
        )
        request_id = request.id
    return str(await process_request(request_id))


@flow(name="staff-refusal", persist_result=False)
def staff_refusal(request_id: str, ground: Ground, reason: str) -> str:
    """Refuse a request (Art. 12(5)): the ground is recorded, the subject told why and where to
    complain, and the request ends ``rejected``. Returns its status."""
    from dsar.refusal import refuse_request
    from dsar.service import get_request

    with session_scope() as session:
        request = get_request(session, request_id)
        refuse_request(
            session,
            request=request,
            register=register_for(request.controller),
            ground=ground,
            reason=reason,
            actor="staff:prefect-ui",
        )
        return request.status.value
