"""``dsar request refuse``: refuse a manifestly unfounded or excessive request (Art. 12(5)).

Attached to the ``request`` command group; the procedure lives in :mod:`dsar.refusal`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.cli.output import JsonOpt, db_session, domain_errors, out, print_json
from dsar.cli.requests import request_app, request_payload


@request_app.command("refuse")
def request_refuse(
    request_id: Annotated[str, typer.Argument(help="Request id.")],
    ground: Annotated[
        str,
        typer.Option(
            help="Why it is refused. GDPR/UK GDPR: manifestly-unfounded, excessive "
            "(Art. 12(5)); US state law: excessive, unverifiable, exempt."
        ),
    ],
    reason: Annotated[
        str, typer.Option(help="The reasons, told to the subject in the letter (Art. 12(4)).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Refuse a request (Art. 12(5)): the subject is told why and where to complain."""
    from dsar.refusal import refusal_ground, refuse_request
    from dsar.register import register_for
    from dsar.service import get_request

    with domain_errors(), db_session() as session:
        request = get_request(session, request_id)
        refuse_request(
            session,
            request=request,
            register=register_for(request.controller),
            ground=ground.strip().lower(),
            reason=reason,
            actor="staff:cli",
        )
        payload = request_payload(request)
        payload["refusal_ground"] = refusal_ground(request)
    if as_json:
        print_json(payload)
        return
    out.print(
        f"Refused {payload['id']} ({payload['refusal_ground']}): the subject is told why, "
        "and where to complain."
    )
