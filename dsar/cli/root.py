"""The ``dsar`` command line: the staff's edge onto the engine.

Only this module turns domain errors into exit codes: bad input → message on stderr, exit 2;
a failure → exit 1. Commands that run no flow import neither Prefect nor the database layer
unless they need it, so ``dsar deadline`` answers in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from dsar.enums import RequestKind
from dsar.errors import DsarError, InputError, NotFoundError

if TYPE_CHECKING:
    from sqlmodel import Session

    from dsar.models import Request

app = typer.Typer(
    name="dsar",
    help="Carry out data-subject requests (GDPR, UK GDPR, CCPA) end to end.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
register_app = typer.Typer(help="Processing registers (Art. 30 records).", no_args_is_help=True)
request_app = typer.Typer(
    help="Submit, inspect, extend and withdraw requests.", no_args_is_help=True
)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Local emulators of the processors' APIs.", no_args_is_help=True)
tasks_app = typer.Typer(help="Manual tasks for recipients without an API.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")


def _add_db_commands() -> None:
    from dsar.cli.db import db_app

    app.add_typer(db_app, name="db")


_add_db_commands()
app.add_typer(register_app, name="register")
app.add_typer(request_app, name="request")
app.add_typer(audit_app, name="audit")
app.add_typer(sandbox_app, name="sandbox")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


@app.callback()
def _configure() -> None:
    """Validate the configuration and route logs through the redacting chain."""
    from dsar.logging import configure_logging
    from dsar.settings import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        fail(f"invalid configuration: {exc}", 2)
    configure_logging(level=settings.log_level, fmt=settings.log_format)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


# ------------------------------------------------------------------------------------------
# Edge helpers
# ------------------------------------------------------------------------------------------


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` on stderr and exit with ``code`` (2: bad input, 1: failure)."""
    err.print(f"[bold red]error:[/] {message}", markup=True)
    raise typer.Exit(code)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Translate domain errors into the CLI's exit codes, never a traceback."""
    try:
        yield
    except (InputError, NotFoundError) as exc:
        fail(str(exc), 2)
    except DsarError as exc:
        fail(str(exc), 1)


def print_json(payload: Any) -> None:
    """Write JSON to stdout without Rich's wrapping or markup."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str, ensure_ascii=False) + "\n")


def parse_aware_datetime(value: str, *, option: str) -> datetime:
    """Parse an ISO-8601 date-time that must carry a UTC offset (``Z`` allowed)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{option}: {value!r} is not an ISO-8601 date-time (e.g. 2026-03-05T10:00:00+01:00)"
        ) from None
    if parsed.utcoffset() is None:
        raise InputError(
            f"{option}: {value!r} has no UTC offset; write e.g. 2026-03-05T10:00:00+01:00"
        )
    return parsed


@contextmanager
def db_session() -> Iterator[Session]:
    """A committed-or-rolled-back session on the configured database."""
    from dsar.store import session_scope

    with session_scope() as session:
        yield session


def _iso(value: date | None) -> str:
    return value.isoformat() if value else "—"


# ------------------------------------------------------------------------------------------
# dsar deadline
# ------------------------------------------------------------------------------------------


@app.command()
def deadline(
    regime: Annotated[str, typer.Option(help="gdpr | uk-gdpr | ccpa | vcdpa | cpa | lgpd")],
    country: Annotated[str, typer.Option(help="Controller's country (ISO 3166-1 alpha-2).")],
    received: Annotated[str, typer.Option(help="Receipt time with offset, ISO-8601.")],
    subdivision: Annotated[
        str | None, typer.Option(help="Controller's subdivision (e.g. 9 = Vienna, CA).")
    ] = None,
    tz: Annotated[
        str | None, typer.Option(help="IANA zone; default: the subdivision's or capital's.")
    ] = None,
    extended: Annotated[bool, typer.Option(help="Print the extended due date.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Compute a request's statutory due date (Reg. 1182/71 for GDPR/UK GDPR; CCPA 45+45 days)."""
    from dsar.deadlines import compute_deadlines, parse_regime

    with domain_errors():
        received_at = parse_aware_datetime(received, option="--received")
        result = compute_deadlines(
            regime=parse_regime(regime),
            received_at=received_at,
            country=country,
            subdivision=subdivision,
            tz=tz,
        )
        if as_json:
            print_json(result.to_dict())
            return
        if extended:
            if result.extended_due_date is None:
                raise InputError(f"the {result.regime.value} regime allows no extension")
            out.print(result.extended_due_date.isoformat())
        else:
            out.print(result.due_date.isoformat())


# ------------------------------------------------------------------------------------------
# dsar register
# ------------------------------------------------------------------------------------------


@register_app.command("check")
def register_check(
    file: Annotated[Path, typer.Argument(help="A processing register (YAML).")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a register; print its recipients, or the bad field and why (exit 2)."""
    from dsar.errors import RegisterError
    from dsar.register import load_register

    try:
        register = load_register(file)
    except RegisterError as exc:
        if as_json:
            print_json(
                {"ok": False, "file": exc.source, "location": exc.location, "reason": exc.reason}
            )
            raise typer.Exit(2) from None
        fail(f"{exc.source}: {exc.location or '(file)'}: {exc.reason}", 2)
    rows = register.summary_rows()
    if as_json:
        print_json(
            {
                "ok": True,
                "file": str(file),
                "controller": register.controller.key,
                "regime": register.controller.regime.value,
                "categories": len(register.categories),
                "purposes": len(register.purposes),
                "recipients": rows,
                "retention_exceptions": len(register.retention_exceptions),
            }
        )
        return
    ctl = register.controller
    table = Table(
        title=f"{ctl.name} — {ctl.country}, {ctl.timezone}, {ctl.regime.value}",
        caption=(
            f"{len(register.categories)} categories · {len(register.purposes)} purposes · "
            f"{len(rows)} recipients · {len(register.retention_exceptions)} retention exceptions"
        ),
    )
    for column in ("key", "recipient", "country", "role", "connector", "categories", "notice"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["key"],
            row["name"].split(" (")[0],
            row["country"],
            row["role"].replace("_", " "),
            row["connector"],
            str(len(row["categories"].split(", "))),
            row["notice"].split(":")[0],
        )
    out.print(table)


# ------------------------------------------------------------------------------------------
# dsar request
# ------------------------------------------------------------------------------------------

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


def _request_payload(request: Request, session: Session | None = None) -> dict[str, Any]:
    from dsar.models import RequestPublic

    payload: dict[str, Any] = json.loads(RequestPublic.of(request).model_dump_json())
    if session is not None:
        from sqlmodel import col, select

        from dsar.models import Step

        steps = session.exec(
            select(Step).where(Step.request_id == request.id).order_by(col(Step.position))
        ).all()
        payload["steps"] = [
            {"recipient": s.recipient, "action": s.action, "status": s.status.value} for s in steps
        ]
    return payload


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
            payload = _request_payload(request)
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
        payload = [_request_payload(r) for r in rows]
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
        payload = _request_payload(request, session)
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
        payload = _request_payload(request)
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
        payload = _request_payload(request)
    if as_json:
        print_json(payload)
        return
    out.print(f"Withdrawn: {payload['id']}")


# ------------------------------------------------------------------------------------------
# dsar run
# ------------------------------------------------------------------------------------------


@app.command("run")
def run_request(
    request_ids: Annotated[
        list[str],
        typer.Argument(help="Request id(s), or unique prefixes of 6+; several run as one batch."),
    ],
    concurrency: Annotated[
        int, typer.Option(min=1, max=32, help="Requests of a batch carried out at once.")
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Carry out requests now, in this process (embedded Prefect), with a progress view.

    One id runs ``process-request``; several run together in one ``process-requests`` flow
    run, which pays Prefect's per-run cost and the processors' connections once.
    """
    from dsar.service import get_request
    from dsar.settings import get_settings

    with domain_errors():
        with db_session() as session:
            ids = list(dict.fromkeys(get_request(session, rid).id for rid in request_ids))
        from flows.runtime import prepare_prefect_env

        prepare_prefect_env(get_settings().home)
        from flows import embedded

        console = None if as_json else out
        if len(ids) == 1:
            outcomes = {ids[0]: embedded.run_with_progress(ids[0], console=console)}
        else:
            outcomes = embedded.run_batch_with_progress(
                ids, concurrency=concurrency, console=console
            )
        with db_session() as session:
            payloads = [_request_payload(get_request(session, rid), session) for rid in ids]
    if as_json:
        print_json(payloads[0] if len(ids) == 1 else payloads)
    elif len(ids) == 1:
        _print_steps(payloads[0])
    else:
        _print_outcomes(payloads, outcomes)
    if any(status in ("failed", "crashed") for status in outcomes.values()):
        raise typer.Exit(1)


def _print_outcomes(payloads: list[dict[str, Any]], outcomes: dict[str, str]) -> None:
    table = Table(title=f"{len(payloads)} requests")
    for column in ("request", "kind", "status", "steps"):
        table.add_column(column)
    for payload in payloads:
        status = outcomes.get(payload["id"], payload["status"])
        table.add_row(payload["id"][:12], payload["kind"], status, str(len(payload["steps"])))
    out.print(table)


def _print_steps(payload: dict[str, Any]) -> None:
    table = Table(title=f"{payload['kind']} request {payload['id'][:12]}: {payload['status']}")
    for column in ("recipient", "action", "status"):
        table.add_column(column)
    for step in payload.get("steps", []):
        table.add_row(step["recipient"], step["action"], step["status"])
    out.print(table)
    if payload.get("export_path"):
        out.print(f"Package: {payload['export_path']}")


# ------------------------------------------------------------------------------------------
# dsar tasks
# ------------------------------------------------------------------------------------------


@tasks_app.command("list")
def tasks_list(
    all_tasks: Annotated[bool, typer.Option("--all", help="Include completed tasks.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Manual tasks, soonest due first."""
    from sqlmodel import col, select

    from dsar.models import ManualTask

    with domain_errors(), db_session() as session:
        query = select(ManualTask).order_by(col(ManualTask.due_date), col(ManualTask.created_at))
        if not all_tasks:
            query = query.where(ManualTask.status == "open")
        rows = [
            {
                "id": t.id,
                "request_id": t.request_id,
                "recipient": t.recipient,
                "due_date": t.due_date.isoformat(),
                "status": t.status,
                "instructions": t.instructions,
            }
            for t in session.exec(query)
        ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{len(rows)} manual task(s)")
    for column in ("id", "request", "recipient", "due", "status"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"][:12], row["request_id"][:12], row["recipient"], row["due_date"], row["status"]
        )
    out.print(table)


@tasks_app.command("done")
def tasks_done(
    task_id: Annotated[str, typer.Argument(help="Task id (or a unique prefix of 6+).")],
    note: Annotated[str, typer.Option(help="Evidence: what the recipient confirmed, and when.")],
    as_json: JsonOpt = False,
) -> None:
    """Complete a manual task; the last one of a request sends the answer and closes it."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        prepare_prefect_env(get_settings().home)
        from flows.embedded import complete_task

        request_id, status = complete_task(task_id, note=note)
    if as_json:
        print_json({"task_id": task_id, "request_id": request_id, "request_status": status})
        return
    out.print(f"Task done. Request {request_id[:12]} is now {status}.")


# ------------------------------------------------------------------------------------------
# dsar audit
# ------------------------------------------------------------------------------------------


@audit_app.command("verify")
def audit_verify(as_json: JsonOpt = False) -> None:
    """Check the hash chain: exit 0 when intact, 1 naming the first broken sequence number."""
    from dsar.audit import verify_chain

    with domain_errors(), db_session() as session:
        result = verify_chain(session)
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        out.print(f"audit trail intact: {result.events} events")
    else:
        err.print(
            f"audit trail broken at sequence number {result.first_broken_seq}: {result.reason}"
        )
    if not result.ok:
        raise typer.Exit(1)


# ------------------------------------------------------------------------------------------
# dsar sandbox
# ------------------------------------------------------------------------------------------


@sandbox_app.command("up")
def sandbox_up(
    port_base: Annotated[
        int, typer.Option(min=1024, max=65533, help="Shopify on N, Klaviyo N+1, Mailchimp N+2.")
    ] = 8601,
    as_json: JsonOpt = False,
) -> None:
    """Run the Shopify, Klaviyo and Mailchimp emulators on 127.0.0.1 until interrupted."""
    from sandbox.server import serve_forever

    try:
        serve_forever(
            port_base=port_base, as_json=as_json, echo=out.print if not as_json else print
        )
    except OSError as exc:
        fail(f"cannot listen on ports {port_base}-{port_base + 2}: {exc.strerror}", 1)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


# ------------------------------------------------------------------------------------------
# dsar monitor
# ------------------------------------------------------------------------------------------


@app.command()
def monitor(
    today: Annotated[
        str | None, typer.Option(help="Run as of this day, YYYY-MM-DD (default: today).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """One deadline-monitor pass now: reminders, escalations, acknowledgements, re-runs, purge."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        try:
            day = date.fromisoformat(today) if today else None
        except ValueError:
            raise InputError(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
        prepare_prefect_env(get_settings().home)
        from flows.monitor import run_monitor

        report = run_monitor(today=day, console=None if as_json else out)
    if as_json:
        print_json(report.to_dict())


# ------------------------------------------------------------------------------------------
# dsar serve
# ------------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address the intake service listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Intake service port.")] = 8600,
    timezone: Annotated[
        str | None, typer.Option(help="Zone of the monitor's schedule; default: the register's.")
    ] = None,
) -> None:
    """Run the intake service and all deployments in one process (single-machine default)."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    settings = get_settings()
    with domain_errors():
        if settings.environment == "production" and not settings.webhook_secret.get_secret_value():
            raise InputError("DSAR_WEBHOOK_SECRET must be set")
        zone = timezone or _default_zone()
        prepare_prefect_env(settings.home)
        from deployments.serve import serve as run_server

        out.print(f"Intake service on http://{host}:{port} (docs at /docs); deployments served.")
        try:
            run_server(host=host, port=port, timezone=zone)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


def _default_zone() -> str:
    from dsar.register import discover_registers, load_register, registers_dir

    for path in discover_registers(registers_dir()).values():
        return load_register(path).controller.timezone
    return "UTC"


# ------------------------------------------------------------------------------------------
# dsar demo
# ------------------------------------------------------------------------------------------


@app.command()
def demo(
    controller: Annotated[str, typer.Option(help="Register key to run the demo for.")] = "lunexxa",
) -> None:
    """Carry out one request of every kind against the local emulators and show the outcomes."""
    from dsar.settings import get_settings
    from flows.runtime import prepare_prefect_env

    with domain_errors():
        prepare_prefect_env(get_settings().home)
        from flows.demo import run_demo

        # Piped output (CI logs, files) has no width of its own: give the tables room.
        console = out if out.is_terminal else Console(highlight=False, width=120)
        rows = run_demo(controller=controller, console=console)
    if any(row["status"] != "completed" for row in rows):
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
