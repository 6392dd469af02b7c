"""The console over HTTP: sign-in, sessions, CSRF, the throttle, and each shop's staff apart."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.accounts import StaffEvidence
from dsar.enums import ManualTaskStatus
from dsar.models import AuditEvent, ManualTask
from tests.staff.conftest import (
    LUMA_AGENT,
    LUNEXXA_AGENT,
    TestClient,
    add_staff,
    csrf_of,
    sign_in,
    stored_request,
)


def test_smoke(console: TestClient, engine: Engine) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com", task=True)
    sign_in(console, LUNEXXA_AGENT)
    page = console.get("/staff/requests")
    assert request_id[:12] in page.text, page.text
    shown = console.get(f"/staff/requests/{request_id}")
    assert shown.status_code == 200, shown.text
    print(shown.text)
