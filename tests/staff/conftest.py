"""Fixtures for the staff console: accounts, stored requests, a signed-in client."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar import lifecycle
from dsar.accounts import add_member
from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.intake import RateLimit, create_app
from dsar.models import ManualTask, RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from tests.intake.conftest import RecordingDispatcher
from tests.mailsink import Inbox

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TestClient

PASSWORD = "a long staff password"
LUNEXXA_AGENT = "agent@lunexxa.example"
LUMA_AGENT = "agent@luma-flux.example"
NO_LIMIT = RateLimit(per_minute=60_000, burst=10_000)
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_staff(engine: Engine, email: str, *controllers: str, role: str = "agent") -> str:
    with Session(engine) as session:
        member = add_member(
            session,
            email=email,
            password=PASSWORD,
            role=role,
            controllers=list(controllers),
            known={"lunexxa", "luma-flux"},
            actor="test",
        )
        session.commit()
        return member.id


def stored_request(
    engine: Engine,
    controller: str,
    email: str,
    *,
    task: bool = False,
    kind: RequestKind = RequestKind.ERASURE,
) -> str:
    """A verified request of ``controller``; with ``task``, one open manual task for PayPal."""
    with Session(engine) as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=email,
                verified_by="verified by phone",
            ),
            register=register_for(controller),
            actor="test",
        )
        if task:
            for status in (RequestStatus.IN_PROGRESS, RequestStatus.AWAITING_MANUAL):
                lifecycle.transition(session, request=request, target=status, actor="test")
            session.add(
                ManualTask(
                    request_id=request.id,
                    recipient="paypal",
                    instructions="Ask PayPal to erase the person's data.",
                    due_date=date.today() + timedelta(days=10),
                )
            )
        session.commit()
        return request.id


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def console(engine: Engine, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    """The intake service (with the console) on a loopback address."""
    app = create_app(dispatcher=dispatcher, rate_limit=NO_LIMIT)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def csrf_of(html: str) -> str:
    found = TOKEN.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the CSRF token of the inbox page's forms."""
    token = csrf_of(client.get("/staff/login").text)
    answer = client.post(
        "/staff/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert answer.status_code == 200, answer.text
    return csrf_of(answer.text)


@pytest.fixture
def engine_env(
    prefect_api: None, sandbox: Any, smtp: tuple[Inbox, str], monkeypatch: pytest.MonkeyPatch
) -> Inbox:
    """The engine pointed at the emulators and the SMTP sink, as in the flow tests."""
    inbox, url = smtp
    for key, value in sandbox.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "15")
    monkeypatch.setenv("DSAR_PUBLIC_URL", "https://privacy.lunexxa.example")
    get_settings.cache_clear()
    return inbox
