"""Flows staff start from the Prefect UI's run form: a request of any kind, typed parameters.

The subject's identities are ``SecretStr`` parameters, so Prefect masks them in its UI and
API; the flow stores them on the request and from then on passes only the request id.
"""

from __future__ import annotations

from typing import Literal

from prefect import flow
from pydantic import SecretStr

from dsar.enums import Channel, RequestKind
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.store import session_scope
from flows.process import process_request

Kind = Literal["access", "rectification", "erasure", "restriction", "portability", "objection"]


@flow(name="staff-request", persist_result=False)
async def staff_request(
    controller: str,
    kind: Kind,
    email: SecretStr,
    name: SecretStr | None = None,
    verified_by: str | None = None,
    language: Literal["en", "de"] = "en",
    last_name_correction: str | None = None,
) -> str:
    """Record a request received by letter, phone or in person, then carry it out.

    Without ``verified_by`` the requester gets the e-mail challenge first (EDPB 01/2022).
    """
    changes = {"last_name": last_name_correction} if last_name_correction else {}
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
