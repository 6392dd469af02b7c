"""The demo: the whole story of a shop's data-subject requests, on this machine.

It starts the local emulators of Shopify, Klaviyo and the newsletter list, a local SMTP sink
(every mail is also saved as an ``.eml`` file) and the intake service. Then:

1. the shop's contact form posts a signed access request; the subject receives the
   confirmation mail and clicks the link, which starts the flow; the access package is built
   and the answer with the download link goes out;
2. staff enter one request of every other kind (identity verified in person), the flows carry
   them out, and staff complete the manual tasks for recipients without an API;
3. the deadline monitor runs once;

and a final table shows every request's outcome. Everything it started is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlmodel import select

from dsar.enums import Channel, RequestKind, RequestStatus, StepStatus
from dsar.models import RequestCreate, Step, utcnow
from dsar.register import register_for
from dsar.service import KIND_ARTICLES, submit_request
from dsar.settings import get_settings
from dsar.store import session_scope

#: Who asks for what: personas seeded in the emulators (see ``sandbox/personas.py``). The
#: erasure comes last, so the earlier requests still find the person.
CONTACT_FORM_SUBJECT = "maria.muster@example.com"
STAFF_SCRIPT: tuple[tuple[RequestKind, str, dict[str, Any]], ...] = (
    (RequestKind.PORTABILITY, "maria.muster@example.com", {}),
    (
        RequestKind.RECTIFICATION,
        "Jonas.Beispiel@Example.com",
        {"changes": {"last_name": "Beispiel-Neu"}},
    ),
    (RequestKind.RESTRICTION, "Jonas.Beispiel@Example.com", {}),
    (RequestKind.OBJECTION, "newsletter.only@example.com", {}),
    (RequestKind.ERASURE, "maria.muster@example.com", {}),
)
DEMO_WEBHOOK_SECRET = "demo-contact-form-secret"  # noqa: S105 - the demo's own, local only


#: Statuses a request passes through while a flow works on it.
_MOVING = frozenset({RequestStatus.RECEIVED, RequestStatus.VERIFYING, RequestStatus.IN_PROGRESS})


def run_demo(*, controller: str, console: Console, keep: bool = False) -> list[dict[str, Any]]:
    """Run the whole story and print a table of outcomes; returns the outcome rows. With
    ``keep``, one manual task is left for the reader to complete in the staff console."""
    from sandbox.server import running_sandbox

    settings = get_settings()
    outbox = settings.outbox_dir.resolve()
    with (
        running_sandbox(async_delay=1.0) as sandbox,
        _smtp_sink(outbox) as (smtp_url, inbox),
        _environment({**sandbox.env(), "DSAR_SMTP_URL": smtp_url}),
    ):
        console.print(
            f"Emulators: Shopify {sandbox.shopify_url} · Klaviyo {sandbox.klaviyo_url} · "
            f"Mailchimp {sandbox.mailchimp_url}"
        )
        console.print(f"SMTP sink: {smtp_url} (copies in {outbox})")
        with _intake() as public_url:
            console.print(f"Intake service: {public_url} (OpenAPI at {public_url}/docs)")
            console.print(f"Staff console: {public_url}/staff ({_demo_login(controller)})")
            rows = [_contact_form_story(controller, console, public_url, inbox)]
            if keep:
                from flows.demo_console import keep_for_reader

                rows += _staff_story(controller, console, leave_one=True)
                _finish(console, rows, inbox)
                return keep_for_reader(console, public_url, rows, outcome=_outcome)
        rows += _staff_story(controller, console)
        _finish(console, rows, inbox)
    return rows


def _finish(console: Console, rows: list[dict[str, Any]], inbox: list[EmailMessage]) -> None:
    console.rule("deadline monitor")
    from flows.monitor import run_monitor

    run_monitor(console=console)
    _print_outcomes(console, rows, inbox)


# ------------------------------------------------------------------------------------------
# The parts the demo starts and stops
# ------------------------------------------------------------------------------------------


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def _smtp_sink(outbox: Path) -> Iterator[tuple[str, list[EmailMessage]]]:
    """A local SMTP server that keeps every message and saves a copy as ``.eml``."""
    import email
    import email.policy
    import socket

    from aiosmtpd.controller import Controller

    outbox.mkdir(parents=True, exist_ok=True)
    received: list[EmailMessage] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            raw = envelope.original_content or b""
            message = email.message_from_bytes(raw, policy=email.policy.default)
            received.append(message)
            (outbox / f"smtp-{len(received):04d}.eml").write_bytes(raw)
            return "250 Message accepted for delivery"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", received
    finally:
        controller.stop()


def _demo_login(controller: str) -> str:
    from dsar.accounts import demo_login

    with session_scope() as session:
        email, password = demo_login(session, controllers=[controller])
    return f"demo login: {email} / {password}; `dsar serve` prints a fresh one"


@contextmanager
def _intake() -> Iterator[str]:
    """The intake service on a free loopback port, dispatching flows in this process."""
    import socket

    import uvicorn

    from dsar.intake import create_app
    from flows.dispatch import EmbeddedDispatcher
    from flows.runtime import start_prefect_api

    start_prefect_api()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    public_url = f"http://127.0.0.1:{port}"
    with _environment({"DSAR_PUBLIC_URL": public_url, "DSAR_WEBHOOK_SECRET": DEMO_WEBHOOK_SECRET}):
        dispatcher = EmbeddedDispatcher()
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(dispatcher=dispatcher), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, name="intake", daemon=True)
        thread.start()
        _wait(lambda: server.started, seconds=15, what="the intake service")
        try:
            yield public_url
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            dispatcher.shutdown(wait=True)


def _wait(predicate: Callable[[], Any], *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"the demo timed out waiting for {what}")


# ------------------------------------------------------------------------------------------
# The story
# ------------------------------------------------------------------------------------------


def _contact_form_story(
    controller: str, console: Console, public_url: str, inbox: list[EmailMessage]
) -> dict[str, Any]:
    import httpx

    from dsar.notify import sign_payload

    console.rule(f"access ({KIND_ARTICLES[RequestKind.ACCESS]}) from the shop's contact form")
    body = json.dumps(
        {
            "controller": controller,
            "kind": "access",
            "email": CONTACT_FORM_SUBJECT,
            "name": "Maria Muster",
            "message": "Bitte um Auskunft über meine gespeicherten Daten.",
            "language": "de",
        }
    ).encode()
    signature = sign_payload(DEMO_WEBHOOK_SECRET, body, int(time.time()))
    answer = httpx.post(
        f"{public_url}/webhooks/contact-form",
        content=body,
        headers={"Content-Type": "application/json", "X-DSAR-Signature": signature},
        timeout=30,
    )
    answer.raise_for_status()
    request_id, due = answer.json()["id"], answer.json()["due_date"]
    console.print(f"Contact form → HTTP {answer.status_code}: request {request_id[:12]}, due {due}")
    challenge = _wait(
        lambda: _mail_for(inbox, "/verify/"), seconds=120, what="the confirmation mail"
    )
    link = re.search(r"https?://\S+/verify/[A-Za-z0-9_\-]+", challenge)
    assert link is not None  # noqa: S101 - the verification template always has the link
    console.print("The subject received the confirmation mail and clicks the link …")
    with httpx.Client(timeout=30) as browser:  # keeps the page's CSRF cookie, as a browser does
        opened = browser.get(link.group(0))
        opened.raise_for_status()
        form = re.search(r'name="csrf_token" value="([^"]+)"', opened.text)
        assert form is not None  # noqa: S101 - the confirmation page always carries its form
        console.print(f"Confirmation page → HTTP {opened.status_code}; they press Confirm …")
        clicked = browser.post(link.group(0), data={"csrf_token": form.group(1)})
        clicked.raise_for_status()
    console.print(f"Confirmed → HTTP {clicked.status_code}; the flow runs.")
    _wait(
        lambda: _mail_for(inbox, "/exports/"), seconds=180, what="the answer with the download link"
    )
    console.print("The answer with the download link has arrived.")
    # The answer leaves before the flow records the request as completed (a crash in between
    # resends nothing: the notice is recorded). Read the outcome once the run has settled it.
    _wait(lambda: _settled(request_id), seconds=180, what="the request to be closed")
    return _outcome(request_id)


def _settled(request_id: str) -> bool:
    """Whether the request has left the statuses a running flow moves it through."""
    from dsar.models import Request

    with session_scope() as session:
        request = session.get(Request, request_id)
        return request is not None and request.status not in _MOVING


def _mail_for(inbox: list[EmailMessage], marker: str) -> str | None:
    for message in inbox:
        part = message.get_body(preferencelist=("plain",))
        text = str(part.get_content()) if part is not None else ""
        if marker in text:
            return text
    return None


def _staff_story(
    controller: str, console: Console, *, leave_one: bool = False
) -> list[dict[str, Any]]:
    from flows.demo_console import settle_all_but_one
    from flows.embedded import run_with_progress, settle_open_tasks

    register = register_for(controller)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    ids: list[tuple[RequestKind, str]] = []
    with session_scope() as session:
        for kind, address, details in STAFF_SCRIPT:
            create = RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=address,
                verified_by="demo: identity confirmed in person at the shop",
                idempotency_key=f"demo:{stamp}:{kind.value}",
                details=details,
            )
            request, _ = submit_request(
                session, create=create, register=register, actor="staff:demo"
            )
            ids.append((kind, request.id))
    rows: list[dict[str, Any]] = []
    for kind, request_id in ids:
        console.rule(f"{kind.value} ({KIND_ARTICLES[kind]}) entered by staff")
        status = run_with_progress(request_id, console=console)
        note = "demo: checked with the recipient by e-mail"
        if leave_one and kind is RequestKind.ERASURE:
            settled, status = settle_all_but_one(request_id, note=note)
        else:
            settled, status = settle_open_tasks(request_id, note=note, received=False)
        if settled:
            console.print(f"Staff settled {settled} manual task(s); request is {status}.")
        rows.append(_outcome(request_id))
    return rows


def _outcome(request_id: str) -> dict[str, Any]:
    from sqlmodel import col

    from dsar.models import Export, Notice, Request

    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None  # noqa: S101
        steps = session.exec(select(Step).where(Step.request_id == request_id)).all()
        notices = session.exec(
            select(Notice).where(Notice.request_id == request_id, Notice.purpose == "art19")
        ).all()
        export = session.exec(
            select(Export).where(Export.request_id == request_id).order_by(col(Export.created_at))
        ).first()
        return {
            "id": request.id,
            "kind": request.kind.value,
            "channel": request.channel.value,
            "status": request.status.value,
            "due": request.effective_due_date.isoformat(),
            "api_steps": sum(1 for s in steps if s.connector != "manual"),
            "notices": len(notices),
            "retained": sorted({s.recipient for s in steps if s.retention_ground}),
            "export_path": export.path if export else None,
            "reason": request.status_reason,
            "failed_steps": [
                f"{s.recipient} {s.action}: {s.error or 'no error recorded'}"
                for s in steps
                if s.status is StepStatus.FAILED
            ],
        }


def _print_outcomes(
    console: Console, rows: list[dict[str, Any]], inbox: list[EmailMessage]
) -> None:
    table = Table(title="Outcomes")
    for column in ("request", "kind", "via", "status", "due", "API", "Art. 19", "kept"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["id"][:8],
            row["kind"],
            row["channel"].replace("_", " "),
            row["status"],
            row["due"],
            str(row["api_steps"]),
            str(row["notices"]),
            ", ".join(row["retained"]) or "—",
        )
    console.print(table)
    for row in rows:
        if row["status"] != RequestStatus.COMPLETED:
            console.print(
                f"[bold red]Not completed:[/] {row['kind']} request {row['id'][:8]} is "
                f"{row['status']}: {row['reason'] or 'no reason recorded'}"
            )
            for failed in row["failed_steps"]:
                console.print(f"  failed step: {failed}")
    settings = get_settings()
    for row in rows:
        if row["export_path"]:
            console.print(
                f"{row['kind'].capitalize()} package: {Path(row['export_path']).resolve()}"
            )
    console.print(f"E-mails sent: {len(inbox)} (copies in {settings.outbox_dir.resolve()})")
    console.print(f"Database: {settings.effective_database_url}")
    console.print("Inspect: .venv/bin/dsar request list · .venv/bin/dsar audit verify")
