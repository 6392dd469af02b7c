"""The console over HTTP: sign-in, sessions, CSRF, the throttle, and each shop's staff apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.accounts import StaffEvidence, read_evidence
from dsar.enums import ManualTaskStatus
from dsar.keys import upload_limit
from dsar.models import AuditEvent, ManualTask, Request
from dsar.refusal import REFUSED
from tests.staff.conftest import (
    LUMA_AGENT,
    LUNEXXA_AGENT,
    PASSWORD,
    TestClient,
    add_staff,
    csrf_of,
    sign_in,
    stored_request,
)


def _staff_routes() -> list[tuple[str, str]]:
    """Every route of the console but the sign-in itself, its path parameters filled in."""
    import re

    from starlette.routing import Route

    from dsar.staff import entry, routes, totp

    found = []
    for route in [*entry.router.routes, *routes.router.routes, *totp.router.routes]:
        if not isinstance(route, Route):
            continue
        if route.path.startswith("/staff/login"):
            continue
        path = re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", route.path)
        found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


ROUTES = _staff_routes()


def _task(engine: Engine, request_id: str) -> ManualTask:
    with Session(engine) as session:
        return session.exec(select(ManualTask).where(ManualTask.request_id == request_id)).one()


def _events(engine: Engine, request_id: str | None = None) -> list[AuditEvent]:
    with Session(engine) as session:
        query = select(AuditEvent)
        if request_id:
            query = query.where(AuditEvent.request_id == request_id)
        return list(session.exec(query))


def test_the_route_list_covers_the_console() -> None:
    assert ("GET", "/staff/requests") in ROUTES
    assert ("POST", "/staff/requests/new") in ROUTES
    assert len(ROUTES) >= 10


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_without_a_session_pages_go_to_the_login_and_json_gets_401(
    console: TestClient, method: str, path: str
) -> None:
    page = console.request(method, path, headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/staff/login"
    api = console.request(method, path, headers={"accept": "application/json"})
    assert api.status_code == 401
    assert api.json()["error"] == "unauthorized"


def test_the_login_form_asks_for_email_password_and_csrf_token(console: TestClient) -> None:
    import re

    form = console.get("/staff/login").text
    names = set(re.findall(r'<input[^>]*name="([^"]+)"', form))
    assert names == {"email", "password", "csrf_token"}


def test_signing_in_sets_a_strict_http_only_session_cookie(
    console: TestClient, engine: Engine
) -> None:
    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    token = csrf_of(console.get("/staff/login").text)
    answer = console.post(
        "/staff/login",
        data={"email": LUNEXXA_AGENT, "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("dsar_staff="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Max-Age=" in cookie
    assert "Secure" not in cookie  # loopback
    assert any(e.actor == f"staff:{member_id}" for e in _events(engine))


def test_the_session_cookie_is_secure_away_from_loopback(engine: Engine) -> None:
    from dsar.intake import create_app

    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    with TestClient(create_app(), base_url="https://console.example") as client:
        token = csrf_of(client.get("/staff/login").text)
        answer = client.post(
            "/staff/login",
            data={"email": LUNEXXA_AGENT, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("dsar_staff="))
    assert "Secure" in cookie


def test_a_forged_session_cookie_is_no_session(console: TestClient) -> None:
    console.cookies.set("dsar_staff", "eyJtIjoiYWJjIn0.forged.signature", path="/staff")
    assert console.get("/staff/requests", headers={"accept": "application/json"}).status_code == 401


def test_a_disabled_member_is_signed_out_at_once(console: TestClient, engine: Engine) -> None:
    from dsar.accounts import disable_member

    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    sign_in(console, LUNEXXA_AGENT)
    with Session(engine) as session:
        disable_member(session, email=LUNEXXA_AGENT, actor="test")
        session.commit()
    assert console.get("/staff/requests", headers={"accept": "application/json"}).status_code == 401


def test_the_sixth_wrong_password_within_a_minute_is_429(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    form = console.get("/staff/login").text
    wrong = {"email": LUNEXXA_AGENT, "password": "not the password"}
    for _ in range(5):  # each answer is the form again, with a fresh token
        answer = console.post("/staff/login", data={**wrong, "csrf_token": csrf_of(form)})
        assert answer.status_code == 401
        assert "wrong" in answer.text
        form = answer.text
    wrong["csrf_token"] = csrf_of(form)
    sixth = console.post("/staff/login", data=wrong)
    assert sixth.status_code == 429
    assert int(sixth.headers["retry-after"]) > 0
    right = {**wrong, "password": PASSWORD}
    assert console.post("/staff/login", data=right).status_code == 429  # locked out for a while


def test_a_login_without_its_csrf_token_is_403(console: TestClient, engine: Engine) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    answer = console.post("/staff/login", data={"email": LUNEXXA_AGENT, "password": PASSWORD})
    assert answer.status_code == 403
    assert "dsar_staff" not in console.cookies


def test_a_post_without_a_valid_csrf_token_is_403_and_changes_nothing(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com", task=True)
    sign_in(console, LUNEXXA_AGENT)
    task = _task(engine, request_id)
    before = len(_events(engine))
    for token in (None, "forged.123.abc"):
        data = {"task_id": task.id, "note": "PayPal confirmed", "confirm": "yes"}
        if token:
            data["csrf_token"] = token
        answer = console.post(f"/staff/requests/{request_id}/actions/complete", data=data)
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    assert _task(engine, request_id).status is ManualTaskStatus.OPEN
    assert len(_events(engine)) == before


def test_a_luma_flux_agent_never_sees_a_lunexxa_request(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUMA_AGENT, "luma-flux")
    lunexxa = stored_request(engine, "lunexxa", "maria@example.com", task=True)
    own = stored_request(engine, "luma-flux", "maria@example.com")
    token = sign_in(console, LUMA_AGENT)
    assert console.get(f"/staff/requests/{lunexxa}").status_code == 404
    assert console.get(f"/staff/requests/{lunexxa}/package").status_code == 404
    inbox = console.get("/staff/requests", headers={"accept": "application/json"}).json()
    assert [row["id"] for row in inbox] == [own]
    for query in ("maria@example.com", lunexxa, lunexxa[:8]):
        found = console.get(
            "/staff/requests", params={"q": query}, headers={"accept": "application/json"}
        )
        assert lunexxa not in [row["id"] for row in found.json()]
    task = _task(engine, lunexxa)
    answer = console.post(
        f"/staff/requests/{lunexxa}/actions/complete",
        data={"task_id": task.id, "note": "x", "confirm": "yes", "csrf_token": token},
    )
    assert answer.status_code == 404
    assert _task(engine, lunexxa).status is ManualTaskStatus.OPEN
    assert console.get("/staff/requests", params={"controller": "lunexxa"}).status_code == 400


def test_search_finds_a_request_by_its_requesters_email(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    maria = stored_request(engine, "lunexxa", "maria@example.com")
    stored_request(engine, "lunexxa", "jana@example.com")
    sign_in(console, LUNEXXA_AGENT)
    found = console.get(
        "/staff/requests", params={"q": "Maria@Example.com"}, headers={"accept": "application/json"}
    ).json()
    assert [row["id"] for row in found] == [maria]
    assert console.get("/staff/requests", params={"q": "no such thing"}).status_code == 400


def test_the_inbox_shows_days_left_by_due_date(console: TestClient, engine: Engine) -> None:
    from datetime import date, timedelta

    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    later = stored_request(engine, "lunexxa", "maria@example.com")
    soon = stored_request(engine, "lunexxa", "jana@example.com")
    with Session(engine) as session:
        request = session.get(Request, soon)
        assert request is not None
        request.effective_due_date = date.today() + timedelta(days=2)
        session.add(request)
        session.commit()
    sign_in(console, LUNEXXA_AGENT)
    rows = console.get("/staff/requests", headers={"accept": "application/json"}).json()
    assert [r["id"] for r in rows] == [soon, later]
    assert rows[0]["due_soon"]
    assert not rows[1]["due_soon"]
    flagged = console.get(
        "/staff/requests", params={"flagged": "1"}, headers={"accept": "application/json"}
    ).json()
    assert [r["id"] for r in flagged] == [soon]
    page = console.get("/staff/requests").text
    assert 'class="soon"' in page


def test_completing_the_last_task_stores_the_evidence_encrypted_and_audits_the_member(
    console: TestClient, engine: Engine
) -> None:
    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com", task=True)
    token = sign_in(console, LUNEXXA_AGENT)
    task = _task(engine, request_id)
    answer = console.post(
        f"/staff/requests/{request_id}/actions/complete",
        data={"task_id": task.id, "note": "PayPal confirmed on 4 Dec", "confirm": "yes",
              "csrf_token": token},
        files={"evidence": ("paypal.txt", b"erased: ticket 42", "text/plain")},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert _task(engine, request_id).status is ManualTaskStatus.DONE
    with Session(engine) as session:
        stored = session.exec(select(StaffEvidence)).one()
    assert read_evidence(stored) == b"erased: ticket 42"
    assert b"ticket 42" not in Path(stored.path).read_bytes()
    actors = {e.action: e.actor for e in _events(engine, request_id)}
    assert actors["manual_task_done"] == f"staff:{member_id}"
    assert actors["evidence_attached"] == f"staff:{member_id}"
    page = console.get(f"/staff/requests/{request_id}").text
    assert f"/evidence/{stored.id}" in page
    download = console.get(f"/staff/requests/{request_id}/evidence/{stored.id}")
    assert download.content == b"erased: ticket 42"
    assert "paypal.txt" in download.headers["content-disposition"]


def test_bad_input_gets_a_reason_and_stores_nothing(
    console: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSAR_STAFF_UPLOAD_MAX_BYTES", "1000")
    assert upload_limit() == 1000
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com", task=True)
    token = sign_in(console, LUNEXXA_AGENT)
    task = _task(engine, request_id)
    base = {"task_id": task.id, "note": "PayPal confirmed", "confirm": "yes", "csrf_token": token}
    before = len(_events(engine))
    too_big = console.post(
        f"/staff/requests/{request_id}/actions/complete",
        data=base,
        files={"evidence": ("big.bin", b"x" * 1001, "application/octet-stream")},
    )
    assert too_big.status_code == 413
    assert "at most 1000 bytes" in too_big.text
    unknown = console.post(
        "/staff/requests/0123456789abcdef0123456789abcdef/actions/complete", data=base
    )
    assert unknown.status_code == 404
    assert "no request" in unknown.text
    foreign_task = console.post(
        f"/staff/requests/{request_id}/actions/complete", data={**base, "task_id": "f" * 32}
    )
    assert foreign_task.status_code == 404
    unconfirmed = console.post(
        f"/staff/requests/{request_id}/actions/complete", data={**base, "confirm": ""}
    )
    assert unconfirmed.status_code == 400
    assert "confirmation" in unconfirmed.text
    no_reason = console.post(f"/staff/requests/{request_id}/actions/extend", data=base)
    assert no_reason.status_code == 400
    assert "Art. 12(3)" in no_reason.text
    assert console.get("/staff/requests", params={"kind": "nonsense"}).status_code == 400
    assert console.get("/staff/requests/../../etc").status_code == 404
    assert _task(engine, request_id).status is ManualTaskStatus.OPEN
    with Session(engine) as session:
        assert session.exec(select(StaffEvidence)).all() == []
    assert len(_events(engine)) == before


def test_extending_records_the_member_and_the_new_date(console: TestClient, engine: Engine) -> None:
    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com")
    token = sign_in(console, LUNEXXA_AGENT)
    answer = console.post(
        f"/staff/requests/{request_id}/actions/extend",
        data={"reason": "many processors to ask", "confirm": "yes", "csrf_token": token},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        assert request.extended
    actors = {e.action: e.actor for e in _events(engine, request_id)}
    assert actors["deadline_extended"] == f"staff:{member_id}"


def test_run_hands_the_request_to_the_dispatcher(
    console: TestClient, engine: Engine, dispatcher: object
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com")
    token = sign_in(console, LUNEXXA_AGENT)
    answer = console.post(
        f"/staff/requests/{request_id}/actions/run",
        data={"confirm": "yes", "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert dispatcher.calls == [request_id]  # type: ignore[attr-defined]


def test_the_console_speaks_german(console: TestClient, engine: Engine) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    sign_in(console, LUNEXXA_AGENT)
    assert "Offene Anfragen" in console.get("/staff/requests", params={"lang": "de"}).text
    assert "Anmelden" in console.get("/staff/login", headers={"accept-language": "de-AT"}).text


def test_in_production_the_console_needs_its_session_secret(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dsar.intake import create_app
    from dsar.settings import get_settings

    monkeypatch.setenv("DSAR_ENVIRONMENT", "production")
    for shop in ("LUNEXXA", "LUMA_FLUX"):
        monkeypatch.setenv(f"DSAR_CONTROLLERS__{shop}__WEBHOOK_SECRET", f"{shop} webhook secret")
    get_settings.cache_clear()
    with TestClient(create_app(), base_url="http://127.0.0.1") as client:
        refused = client.get("/staff/login")
        assert refused.status_code == 503
        assert "DSAR_SESSION_SECRET" in refused.text
        monkeypatch.setenv("DSAR_SESSION_SECRET", "s" * 48)
        assert client.get("/staff/login").status_code == 200


def test_an_expired_session_is_no_session(console: TestClient, engine: Engine) -> None:
    """A correctly signed session whose expiry has passed is refused like no session at all."""
    import time

    from dsar.intake import CsrfGuard
    from dsar.keys import session_secret
    from dsar.staff import auth

    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    secret = session_secret()
    sessions = auth.Sessions(secret, hours=8, csrf=CsrfGuard(auth.csrf_key(secret)))
    for expires, status in ((time.time() - 1, 401), (time.time() + 3600, 200)):
        value = sessions.cookie_value(member_id, expires=expires, csrf=sessions.csrf.issue())
        console.cookies.set("dsar_staff", value, domain="127.0.0.1", path="/staff")
        answer = console.get("/staff/requests", headers={"accept": "application/json"})
        assert answer.status_code == status


def test_refusing_ends_the_request_rejected_with_the_remedies_letter(
    console: TestClient, engine: Engine
) -> None:
    from dsar.settings import get_settings

    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com")
    token = sign_in(console, LUNEXXA_AGENT)
    page = console.get(f"/staff/requests/{request_id}")
    assert 'name="ground"' in page.text
    assert "excessive" in page.text
    answer = console.post(
        f"/staff/requests/{request_id}/actions/refuse",
        data={
            "ground": "excessive",
            "reason": "the fourth identical request this month",
            "confirm": "yes",
            "csrf_token": token,
        },
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    with Session(engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        assert request.status.value == "rejected"
    actors = {e.action: e.actor for e in _events(engine, request_id)}
    assert actors[REFUSED] == f"staff:{member_id}"
    letters = [p.read_text() for p in get_settings().outbox_dir.glob("*.eml")]
    letter = next(text for text in letters if "the fourth identical request" in text)
    assert "Datenschutzbeh" in letter


def test_a_refusal_on_a_ground_the_law_lacks_is_400_and_changes_nothing(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = stored_request(engine, "lunexxa", "maria@example.com")
    token = sign_in(console, LUNEXXA_AGENT)
    before = len(_events(engine, request_id))
    answer = console.post(
        f"/staff/requests/{request_id}/actions/refuse",
        data={"ground": "exempt", "reason": "r", "confirm": "yes", "csrf_token": token},
        headers={"accept": "application/json"},
    )
    assert answer.status_code == 400
    assert "exempt" in answer.text
    with Session(engine) as session:
        request = session.get(Request, request_id)
        assert request is not None
        assert request.status.value != "rejected"
    assert len(_events(engine, request_id)) == before
