"""``dsar request appeal`` and ``appeal-decide``: a consumer's appeal of a denied US request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from dsar.cli.output import (
    JsonOpt,
    db_session,
    domain_errors,
    out,
    parse_aware_datetime,
    print_json,
)
from dsar.cli.requests import request_app

if TYPE_CHECKING:
    from sqlmodel import Session

    from dsar.appeal_records import Appeal
    from dsar.models import Request
    from dsar.register import Register


@request_app.command("appeal")
def request_appeal(
    request_id: Annotated[str, typer.Argument(help="A denied (rejected) request.")],
    reason: Annotated[str, typer.Option(help="Why the consumer disagrees with the denial.")],
    received: Annotated[
        str | None, typer.Option(help="When the appeal arrived, ISO-8601 with offset.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Open the consumer's appeal of a denied request, due per the state's law."""
    from dsar.appeals import appeal_payload, open_appeal
    from dsar.register import register_for
    from dsar.service import get_request

    with domain_errors():
        received_at = parse_aware_datetime(received, option="--received") if received else None
        with db_session() as session:
            request = get_request(session, request_id)
            appeal = open_appeal(
                session,
                request=request,
                register=register_for(request.controller),
                reason=reason,
                actor="staff:cli",
                received_at=received_at,
            )
            payload = appeal_payload(appeal)
    if as_json:
        print_json(payload)
        return
    out.print(
        f"Appeal [bold]{payload['id']}[/] of request {payload['request_id']}: "
        f"received {payload['received_on']}, due {payload['due_date']}"
    )


@request_app.command("appeals")
def request_appeals(
    open_only: Annotated[
        bool, typer.Option("--open", help="Only appeals not yet decided.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List appeals, soonest due first; an open appeal past its date is marked overdue."""
    from datetime import UTC, datetime

    from rich.table import Table

    from dsar.appeals import appeal_payload, list_appeals

    today = datetime.now(UTC).date().isoformat()
    with domain_errors(), db_session() as session:
        payload = [appeal_payload(a) for a in list_appeals(session, open_only=open_only)]
    for item in payload:
        item["overdue"] = item["status"] == "open" and item["effective_due_date"] < today
    if as_json:
        print_json(payload)
        return
    table = Table(title=f"{len(payload)} appeal(s)")
    for column in ("id", "request", "regime", "status", "received", "due"):
        table.add_column(column)
    for item in payload:
        due = item["effective_due_date"] + (" [red](overdue)[/]" if item["overdue"] else "")
        table.add_row(
            item["id"][:12], item["request_id"][:12], item["regime"], item["status"],
            item["received_on"], due,
        )  # fmt: skip
    out.print(table)


@request_app.command("appeal-decide")
def request_appeal_decide(
    appeal_id: Annotated[str, typer.Argument(help="The appeal's id (or a unique prefix of 6+).")],
    reason: Annotated[str, typer.Option(help="The reasons for the decision (told to them).")],
    grant: Annotated[
        bool,
        typer.Option("--grant/--deny", help="Reverse the denial, or let it stand."),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Decide an appeal with reasons and tell the consumer (with the Attorney General if denied)."""
    from dsar.appeals import appeal_payload, decide_appeal, get_appeal
    from dsar.register import register_for
    from dsar.service import get_request

    with domain_errors(), db_session() as session:
        appeal = get_appeal(session, appeal_id)
        request = get_request(session, appeal.request_id)
        register = register_for(request.controller)
        appeal, again = decide_appeal(
            session, appeal=appeal, register=register, granted=grant, reasons=reason,
            actor="staff:cli",
        )  # fmt: skip
        session.commit()
        _send_decision(session, appeal=appeal, request=request, register=register, again=again)
        payload = appeal_payload(appeal)
        if again is not None:
            payload["new_request_id"] = again.id
    if as_json:
        print_json(payload)
        return
    out.print(f"Appeal {payload['id']}: {payload['status']}; the consumer has been told")


@request_app.command("appeal-extend")
def request_appeal_extend(
    appeal_id: Annotated[str, typer.Argument(help="An open appeal under a law allowing it.")],
    reason: Annotated[str, typer.Option(help="Why more time is needed (told to the consumer).")],
    as_json: JsonOpt = False,
) -> None:
    """Extend an appeal's period where the state allows it (Colorado: 60 more days)."""
    from dsar.appeals import appeal_payload, extend_appeal, get_appeal
    from dsar.notify import render, send_to_subject
    from dsar.register import register_for
    from dsar.service import get_request

    with domain_errors(), db_session() as session:
        appeal = extend_appeal(
            session, appeal=get_appeal(session, appeal_id), reason=reason, actor="staff:cli"
        )
        session.commit()
        request = get_request(session, appeal.request_id)
        subject, body = render(
            "appeal_extension",
            request.language,
            controller=register_for(request.controller).controller,
            reference=request.id,
            kind=request.kind.value,
            appeal_received_on=appeal.received_on,
            new_due_date=appeal.effective_due_date,
            reasons=reason.strip(),
            regime=appeal.regime,
        )
        send_to_subject(
            session, request=request, purpose="appeal_extension", subject=subject, body=body
        )
        payload = appeal_payload(appeal)
    if as_json:
        print_json(payload)
        return
    out.print(f"Extended appeal {payload['id']}: now due {payload['effective_due_date']}")


def _send_decision(
    session: Session, *, appeal: Appeal, request: Request, register: Register, again: Request | None
) -> None:
    """The decision letter, sent once (a Notice per request and purpose)."""
    from dsar.notify import render, send_to_subject

    subject, body = render(
        "appeal_decision",
        request.language,
        controller=register.controller,
        reference=request.id,
        kind=request.kind.value,
        decision=appeal.status.value,
        reasons=appeal.decision,
        appeal_received_on=appeal.received_on,
        new_reference=again.id if again is not None else "",
        regime=appeal.regime,
    )
    send_to_subject(session, request=request, purpose="appeal_decision", subject=subject, body=body)
