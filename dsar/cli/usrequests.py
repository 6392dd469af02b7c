"""``dsar request verify`` and ``dsar request agent``: US verification levels and agents."""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.cli.output import JsonOpt, db_session, domain_errors, out, print_json
from dsar.cli.requests import request_app


@request_app.command("verify")
def request_verify(
    request_id: Annotated[str, typer.Argument(help="A US request awaiting verification.")],
    data_points: Annotated[
        int, typer.Option(min=0, max=100, help="Data points that matched the business's records.")
    ],
    how: Annotated[str, typer.Option(help="How they were matched (recorded; no data itself).")],
    declaration: Annotated[
        bool, typer.Option(help="The consumer signed a declaration under penalty of perjury.")
    ] = False,
    categories_only: Annotated[
        bool, typer.Option(help="A request to know categories only, not specific pieces.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Verify a US consumer to the degree the CCPA regulations ask (11 CCR §§ 7060-7062)."""
    from dsar.register import register_for
    from dsar.service import get_request
    from dsar.usverify import verify_us_request

    with domain_errors(), db_session() as session:
        request = get_request(session, request_id)
        need = verify_us_request(
            session,
            request=request,
            register=register_for(request.controller),
            data_points=data_points,
            declaration=declaration,
            how=how,
            actor="staff:cli",
            specific_pieces=not categories_only,
        )
        payload = {"id": request.id, "verified": True, "level": need.level.value}
    if as_json:
        print_json(payload)
        return
    out.print(f"Verified {payload['id']} to a {need.level.value.replace('_', ' ')} degree")


@request_app.command("agent")
def request_agent(
    request_id: Annotated[str, typer.Argument(help="A US request made by an authorized agent.")],
    agent: Annotated[str, typer.Option(help="The agent's name (person or business).")],
    permission: Annotated[
        str, typer.Option(help="Where the consumer's signed permission is kept.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Record an authorized agent (11 CCR § 7063); the consumer still verifies directly."""
    from dsar.service import get_request
    from dsar.usverify import record_agent

    with domain_errors(), db_session() as session:
        request = record_agent(
            session,
            request=get_request(session, request_id),
            agent=agent,
            permission=permission,
            actor="staff:cli",
        )
        payload = {"id": request.id, "agent": request.details["agent"]["name"]}
    if as_json:
        print_json(payload)
        return
    out.print(f"Recorded {payload['agent']} as authorized agent on {payload['id']}")
