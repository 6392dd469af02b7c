"""Flow tests run real Prefect (one local API for the session), the emulators over real
sockets, and a real SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from dsar.enums import Channel, RequestKind
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from dsar.store import session_scope
from tests.mailsink import Inbox


@pytest.fixture
def engine_env(
    prefect_api: None, sandbox: Any, smtp: tuple[Inbox, str], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    """Point the engine at the emulators and the SMTP sink; returns the sink's inbox."""
    inbox, url = smtp
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "15")
    monkeypatch.setenv("DSAR_PUBLIC_URL", "https://privacy.lunexxa.example")
    get_settings.cache_clear()
    return inbox


def submit(kind: RequestKind, email: str, *, verified: bool = True, **details: Any) -> str:
    """Store a Lunexxa request and return its id."""
    register = register_for("lunexxa")
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller="lunexxa",
                kind=kind,
                channel=Channel.STAFF,
                email=email,
                verified_by="verified in person at the shop counter" if verified else None,
                details=details,
            ),
            register=register,
            actor="test",
        )
        return request.id


def run(request_id: str) -> str:
    """Run the entry flow to its end in this process, as ``dsar run`` starts it."""
    from flows.embedded import run_request

    return asyncio.run(run_request(request_id))


@pytest.fixture
def webhook_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A plain HTTP endpoint on loopback that checks the signature and records JSON posts."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from dsar.notify import verify_signature

    secret = "receiver-secret"
    monkeypatch.setenv("DSAR_WEBHOOK_SECRET", secret)
    get_settings.cache_clear()
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            verify_signature(secret, self.headers["X-DSAR-Signature"], body)
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            """Keep the test output quiet."""

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
