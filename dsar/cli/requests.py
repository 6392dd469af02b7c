"""``dsar request``: submit, list, show, extend, lift and withdraw requests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from dsar.cli.output import (
    JsonOpt,
    db_session,
    domain_errors,
    out,
    parse_aware_datetime,
    print_json,
)
from dsar.enums import RequestKind
from dsar.errors import InputError

if TYPE_CHECKING:
    from sqlmodel import Session

    from dsar.models import Request


request_app = typer.Typer(
    help="Submit, inspect, extend and withdraw requests.", no_args_is_help=True
)


_CHANGE_FIELDS = frozenset(
    {"email", "first_name", "last_name", "phone", "address1", "address2", "city", "zip", "country"}
)


def _parse_changes(values: list[str]) -> dict[str, str]:
    changes: dict[str, str] = {}
    for item in values:
        field, sep, value = item.partition("=")
        field = field.strip()
        if not sep or not field:
            raise InputError(f"--change expects FIELD=VALUE, got {item!r}")
        if field not in _CHANGE_FIELDS:
            allowed = ", ".join(sorted(_CHANGE_FIELDS))
            raise InputError(f"--change: unknown field {field!r}; allowed: {allowed}")
        changes[field] = value.strip()
    return changes


def _parse_residence(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    country, _, subdivision = value.strip().upper().partition("-")
    if len(country) != 2 or not country.isalpha():
        raise InputError(f"--residence: expected e.g. AT, US-CA, got {value!r}")
    return country, subdivision or None


def request_payload(request: Request, session: Session | None = None) -> dict[str, Any]:
    from dsar.models import RequestPublic

    payload: dict[str, Any] = json.loads(RequestPublic.of(request).model_dump_json())
    payload["possibly_excessive"] = request.details.get("possibly_excessive")  # ids only
    if session is not None:
        from sqlmodel import col, select

        from dsar.models import RecipientFinding, Step

        steps = session.exec(
            select(Step).where(Step.request_id == request.id).order_by(col(Step.position))
        ).all()
        payload["steps"] = [
            {"recipient": s.recipient, "action": s.action, "status": s.status.value} for s in steps
        ]
        findings = session.exec(
            select(RecipientFinding)
            .where(RecipientFinding.request_id == request.id)
            .order_by(col(RecipientFinding.recipient))
        ).all()
        payload["recipients"] = {
            f.recipient: {
                "verdict": f.verdict.value,
                "evidence": list(f.reasons),
                **({"decided_by": f.decided_by} if f.decided_by else {}),
            }
            for f in findings
        }
        if request.kind in (RequestKind.ACCESS, RequestKind.PORTABILITY):
            payload["export_path"] = _export_path(session, request.id)
    return payload


def _export_path(session: Session, request_id: str) -> str | None:
    """Where the request's newest package lies, while it has not been purged."""
    from sqlmodel import col, select

    from dsar.models import Export

    export = session.exec(
        select(Export)
        .where(Export.request_id == request_id)
        .order_by(col(Export.created_at).desc())
    ).first()
    return export.path if export is not None and Path(export.path).is_file() else None


@request_app.command("submit")
def request_submit(
    controller: Annotated[str, typer.Option(help="The controller's register key, e.g. lunexxa.")],
    kind: Annotated[RequestKind, typer.Option(help="What the subject asks for.")],
    email: Annotated[str, typer.Option(help="The requester's e-mail address.")],
    name: Annotated[str | None, typer.Option(help="The requester's name.")] = None,
    phone: Annotated[str | None, typer.Option(help="The requester's phone number.")] = None,
    customer_id: Annotated[str | None, typer.Option(help="A customer id at the shop.")] = None,
    received: Annotated[
        str | None, typer.Option(help="When it arrived (letter, phone), ISO-8601 with offset.")
    ] = None,
    verified_by: Annotated[
        str | None, typer.Option(help="How staff verified the identity (skips the e-mail check).")
    ] = None,
    residence: Annotated[
        str | None, typer.Option(help="Requester's residence, e.g. AT or US-CA (decides the law).")
    ] = None,
    language: Annotated[str, typer.Option(help="Language of the answer: en, de.")] = "en",
    change: Annotated[
        list[str] | None, typer.Option(help="Rectification: FIELD=VALUE (repeatable).")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Deduplicate repeated submissions.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a request and its statutory deadline."""
    from pydantic import ValidationError

    from dsar.enums import Channel
    from dsar.models import RequestCreate
    from dsar.register import register_for
    from dsar.service import submit_request

    with domain_errors():
        received_at = parse_aware_datetime(received, option="--received") if received else None
        country, subdivision = _parse_residence(residence)
        changes = _parse_changes(change or [])
        if kind is RequestKind.RECTIFICATION and not changes:
            raise InputError("a rectification needs at least one --change FIELD=VALUE")
        if language not in {"en", "de"}:
            raise InputError(f"--language: {language!r} is not supported (en, de)")
        try:
            create = RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                language=language,
                email=email,
                name=name,
                phone=phone,
                customer_id=customer_id,
                received_at=received_at,
                verified_by=verified_by,
                residence_country=country,
                residence_subdivision=subdivision,
                idempotency_key=idempotency_key,
                details={"changes": changes} if changes else {},
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "input"
            raise InputError(f"--{field.replace('_', '-')}: {first['msg']}") from None
        register = register_for(controller)
        with db_session() as session:
            request, created = submit_request(
                session, create=create, register=register, actor="staff:cli"
            )
            payload = request_payload(request)
        payload["created"] = created
        if as_json:
            print_json(payload)
            return
        verb = "Recorded" if created else "Already recorded"
        out.print(
            f"{verb} {kind.value} request [bold]{payload['id']}[/] for {controller}: "
            f"status {payload['status']}, due {payload['due_date']} ({payload['regime']})"
        )


def _status_style(status: str) -> str:
    return {
        "completed": "green",
        "rejected": "red",
        "failed": "bold red",
        "withdrawn": "dim",
        "awaiting_manual": "yellow",
    }.get(status, "cyan")


@request_app.command("list")
def request_list(
    controller: Annotated[str | None, typer.Option(help="Only this controller.")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only open requests.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 200,
    as_json: JsonOpt = False,
) -> None:
    """List requests, soonest due first."""
    from dsar import lifecycle
    from dsar.service import list_requests

    with domain_errors(), db_session() as session:
        rows = list_requests(
            session,
            controller=controller,
            statuses=sorted(lifecycle.OPEN) if open_only else None,
            limit=limit,
        )
        payload = [request_payload(r) for r in rows]
    if as_json:
        print_json(payload)
        return
    today = datetime.now(UTC).date()
    table = Table(title=f"{len(payload)} request(s)")
    for column in ("id", "controller", "kind", "regime", "status", "received", "due", "days left"):
        table.add_column(column)
    for item in payload:
        due = date.fromisoformat(item["effective_due_date"])
        left = (due - today).days
        closed = item["closed_at"] is not None
        table.add_row(
            item["id"][:12],
            item["controller"],
            item["kind"],
            item["regime"],
            f"[{_status_style(item['status'])}]{item['status']}[/]",
            item["received_on"],
            item["effective_due_date"] + (" (ext.)" if item["extended"] else ""),
            "—" if closed else (f"[red]{left}[/]" if left < 0 else str(left)),
        )
    out.print(table)


@request_app.command("show")
def request_show(
    request_id: Annotated[str, typer.Argument(help="Request id (or a unique prefix of 6+).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one request: status, deadlines, steps and its audit events."""
    from dsar.audit import events_for
    from dsar.service import get_request

    with domain_errors(), db_session() as session:
        request = get_request(session, request_id)
        payload = request_payload(request, session)
        events = [
            {
                "seq": e.seq,
                "at": e.at.isoformat(),
                "action": e.action,
                "actor": e.actor,
                "data": e.data,
            }
            for e in events_for(session, request.id)
        ]
    if as_json:
        print_json({**payload, "audit": events})
        return
    table = Table(show_header=False, title=f"Request {payload['id']}")
    table.add_column("field", style="bold")
    table.add_column("value")
    for key in (
        "controller", "kind", "regime", "channel", "status", "status_reason", "received_at",
        "received_on", "due_date", "extended_due_date", "extension_notice_by", "acknowledge_by",
        "verified", "closed_at",
    ):  # fmt: skip
        value = payload.get(key)
        table.add_row(key.replace("_", " "), "—" if value in (None, "") else str(value))
    out.print(table)
    if payload["steps"]:
        steps = Table(title="Steps")
        for column in ("recipient", "action", "status"):
            steps.add_column(column)
        for step in payload["steps"]:
            steps.add_row(step["recipient"], step["action"], step["status"])
        out.print(steps)
    if payload.get("recipients"):
        received = Table(title="Recipients: did they receive this person's data?")
        for column in ("recipient", "verdict", "evidence"):
            received.add_column(column)
        for key, finding in payload["recipients"].items():
            received.add_row(key, finding["verdict"], "; ".join(finding["evidence"]))
        out.print(received)
    trail = Table(title="Audit events")
    for column in ("seq", "at", "action", "actor"):
        trail.add_column(column)
    for event in events:
        trail.add_row(
            str(event["seq"]), str(event["at"])[:19], str(event["action"]), str(event["actor"])
        )
    out.print(trail)


@request_app.command("extend")
def request_extend(
    request_id: Annotated[str, typer.Argument(help="Request id.")],
    reason: Annotated[str, typer.Option(help="Why more time is needed (told to the subject).")],
    as_json: JsonOpt = False,
) -> None:
    """Extend the deadline (Art. 12(3) GDPR: two further months; CCPA: to 90 days)."""
    from dsar.register import register_for
    from dsar.service import extend_request, get_request, send_extension_notice

    with domain_errors(), db_session() as session:
        request = get_request(session, request_id)
        register = register_for(request.controller)
        extend_request(
            session, request=request, register=register, reason=reason, actor="staff:cli"
        )
        session.commit()
        send_extension_notice(session, request=request, register=register)
        payload = request_payload(request)
    if as_json:
        print_json(payload)
        return
    out.print(f"Extended {payload['id']}: now due {payload['extended_due_date']}")


@request_app.command("lift")
def request_lift(
    request_id: Annotated[str, typer.Argument(help="A completed restriction request.")],
    reason: Annotated[str, typer.Option(help="Why the restriction ends (told to the subject).")],
    on: Annotated[
        str | None, typer.Option(help="Day the restriction ends, YYYY-MM-DD (default today).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Lift a restriction: the subject is told first (Art. 18(3)), then every processor."""
    import asyncio

    from dsar.service import get_request
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        try:
            lift_on = date.fromisoformat(on) if on else datetime.now(UTC).date()
        except ValueError:
            raise InputError(f"--on: {on!r} is not a date (YYYY-MM-DD)") from None
        with db_session() as session:
            request_id = get_request(session, request_id).id
        prepare_prefect_env(get_settings().home)
        from engine import lift_restriction

        lifted = asyncio.run(lift_restriction(request_id, reasons=reason, lift_on=lift_on))
    if as_json:
        print_json({"id": request_id, "lift_on": lift_on.isoformat(), "lifted": lifted})
        return
    done = ", ".join(lifted) if lifted else f"none yet (lifts on {lift_on.isoformat()})"
    out.print(f"Subject told (Art. 18(3)). Lifted at: {done}")


@request_app.command("withdraw")
def request_withdraw(
    request_id: Annotated[str, typer.Argument(help="Request id.")],
    as_json: JsonOpt = False,
) -> None:
    """Record that the subject withdrew the request."""
    from dsar.service import get_request, withdraw_request

    with domain_errors(), db_session() as session:
        request = withdraw_request(
            session, request=get_request(session, request_id), actor="staff:cli"
        )
        payload = request_payload(request)
    if as_json:
        print_json(payload)
        return
    out.print(f"Withdrawn: {payload['id']}")
