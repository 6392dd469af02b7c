"""Fixtures for the intake service: a signed-delivery helper, a recording dispatcher, a client."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from dsar.intake import RateLimit, create_app
from dsar.models import Request
from dsar.notify import SIGNATURE_HEADER, sign_payload
from dsar.settings import get_settings

with warnings.catch_warnings():  # Starlette announces a future client; this one still works
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient as TestClient

SECRET = "contact-form-test-secret"
SHOPIFY_SECRET = "shopify-app-test-secret"
#: Generous enough that only the rate-limit tests ever meet it.
NO_LIMIT = RateLimit(per_minute=60_000, burst=10_000)


@dataclass
class RecordingDispatcher:
    """Remembers the request ids it was asked to start; the flows are tested elsewhere."""

    calls: list[str] = field(default_factory=list)
    fail: bool = False

    def dispatch(self, request_id: str) -> None:
        self.calls.append(request_id)
        if self.fail:
            raise RuntimeError("the work pool is unreachable")


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The webhook and Shopify app secrets the tests sign with."""
    monkeypatch.setenv("DSAR_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("DSAR_SHOPIFY_APP_SECRET", SHOPIFY_SECRET)
    get_settings.cache_clear()


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def client(
    secrets_env: None, engine: Engine, dispatcher: RecordingDispatcher
) -> Iterator[TestClient]:
    """The intake service with the test secrets, a recording dispatcher and no practical limit."""
    with TestClient(create_app(dispatcher=dispatcher, rate_limit=NO_LIMIT)) as test_client:
        yield test_client


def sign(body: bytes, *, at: float | None = None, secret: str = SECRET) -> str:
    """An ``X-DSAR-Signature`` for ``body`` at ``at`` (default: now)."""
    return sign_payload(secret, body, int(time.time() if at is None else at))


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


def contact_headers(body: bytes, **extra: str) -> dict[str, str]:
    """JSON content type and a fresh, valid signature, plus ``extra``."""
    return {"content-type": "application/json", SIGNATURE_HEADER: sign(body), **extra}


def stored_requests(engine: Engine) -> list[Request]:
    with Session(engine) as session:
        return list(session.exec(select(Request)))


def request_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Request)).one())


VALID: dict[str, Any] = {
    "kind": "access",
    "email": "jana.novak@example.com",
    "name": "Jana Novak",
    "message": "Please tell me what you store about me.",
    "language": "de",
    "order_number": "#1042",
    "controller": "lunexxa",
}
