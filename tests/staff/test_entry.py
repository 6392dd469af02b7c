"""Requests entered by staff from letters and phone calls, and the overview page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from dsar.enums import RequestStatus
from dsar.models import AuditEvent, Request, utcnow
from tests.intake.conftest import RecordingDispatcher
from tests.staff.conftest import (
    LUMA_AGENT,
    LUNEXXA_AGENT,
    TestClient,
    add_staff,
    sign_in,
    stored_request,
)

LETTER = {
    "controller": "lunexxa",
    "kind": "access",
    "received_by": "letter",
    "received_at": "2026-12-01T09:30",
    "email": "maria@example.com",
    "name": "Maria Muster",
    "language": "de",
    "verified_by": "signed letter matched to the customer's postal address",
    "confirm": "yes",
}


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Request)).one())


def test_a_letter_becomes_a_request_counted_from_its_receipt_and_starts(
    console: TestClient, engine: Engine, dispatcher: RecordingDispatcher
) -> None:
    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    token = sign_in(console, LUNEXXA_AGENT)
    assert 'name="received_by"' in console.get("/staff/requests/new").text
    answer = console.post(
        "/staff/requests/new",
        data={**LETTER, "csrf_token": token},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    request_id = answer.json()["id"]
    with Session(engine) as session:
        stored = session.get(Request, request_id)
        assert stored is not None
        events = session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id)).all()
    assert stored.received_on.isoformat() == "2026-12-01"
    assert stored.due_date.isoformat() == "2027-01-04"  # 1 January is a holiday, then a weekend
    assert stored.verified_at is not None
    assert stored.details == {"received_by": "letter"}
    assert {e.action: e.actor for e in events}["request_received"] == f"staff:{member_id}"
    assert dispatcher.calls == [request_id]


def test_a_forged_controller_or_bad_fields_store_nothing(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUMA_AGENT, "luma-flux")
    token = sign_in(console, LUMA_AGENT)
    for change, reason in (
        ({"controller": "lunexxa"}, "not one of your shops"),
        ({"controller": "no-such-shop"}, "not one of your shops"),
        ({"controller": "luma-flux", "email": "not an address"}, "email"),
        ({"controller": "luma-flux", "received_at": "yesterday"}, "received_at"),
        ({"controller": "luma-flux", "received_by": "pigeon"}, "letter or phone"),
        ({"controller": "luma-flux", "kind": "everything"}, "kind"),
    ):
        answer = console.post("/staff/requests/new", data={**LETTER, **change, "csrf_token": token})
        assert answer.status_code == 400, change
        assert reason in answer.text, change
    missing_csrf = console.post("/staff/requests/new", data={**LETTER, "controller": "luma-flux"})
    assert missing_csrf.status_code == 403
    assert _count(engine) == 0


def test_the_overview_counts_open_due_overdue_and_the_last_ninety_days(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    overdue = stored_request(engine, "lunexxa", "a@example.com")
    stored_request(engine, "lunexxa", "b@example.com", task=True)
    closed = stored_request(engine, "lunexxa", "c@example.com")
    stored_request(engine, "luma-flux", "d@example.com")
    with Session(engine) as session:
        late = session.get(Request, overdue)
        done = session.get(Request, closed)
        assert late is not None
        assert done is not None
        late.effective_due_date = late.received_on - timedelta(days=1)
        done.status = RequestStatus.COMPLETED
        done.received_at = utcnow() - timedelta(days=4)
        done.closed_at = utcnow()
        session.add(late)
        session.add(done)
        session.commit()
    sign_in(console, LUNEXXA_AGENT)
    rows = console.get("/staff/overview", headers={"accept": "application/json"}).json()
    assert rows == [
        {
            "controller": "lunexxa",
            "kind": "erasure",
            "open": {"received": 1, "awaiting_manual": 1},
            "due_this_week": 0,
            "overdue": 1,
            "completed_90d": 1,
            "median_days": 4.0,
            "share_without_manual": 1.0,
        }
    ]
    assert "Median" in console.get("/staff/overview").text


def test_the_request_page_says_how_the_deadline_was_counted_in_english_and_german(
    console: TestClient, engine: Engine
) -> None:
    """Received 1 December 2026 09:30 in Vienna: one month ends on New Year's Day, a holiday
    followed by a weekend, so the request is due on Monday 4 January 2027."""
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    token = sign_in(console, LUNEXXA_AGENT)
    request_id = console.post(
        "/staff/requests/new",
        data={**LETTER, "csrf_token": token},
        headers={"accept": "application/json"},
    ).json()["id"]
    english = console.get(f"/staff/requests/{request_id}", headers={"accept": "application/json"})
    assert english.json()["deadline"] == [
        "Received 2026-12-01 08:30 UTC, which is 2026-12-01 in Europe/Vienna (the controller's "
        "zone).",
        "One month from that day (Art. 12(3), Reg. 1182/71 Art. 3): 2027-01-01.",
        "That day is a weekend day or public holiday in AT-9: due on the next working day, "
        "2027-01-04.",
    ]
    german = console.get(f"/staff/requests/{request_id}", params={"lang": "de"}).text
    assert "Ein Monat ab diesem Tag (Art. 12 Abs. 3, VO 1182/71 Art. 3): 2027-01-01." in german
    assert "fällig am nächsten Werktag, 2027-01-04." in german
