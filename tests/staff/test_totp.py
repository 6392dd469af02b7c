"""An admin with a second factor signs in with the password, then the code."""

from __future__ import annotations

import pyotp
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.accounts import enable_totp
from tests.staff.conftest import PASSWORD, TestClient, add_staff, csrf_of

ADMIN = "admin@lunexxa.example"


def test_an_admin_with_totp_needs_the_code_after_the_password(
    console: TestClient, engine: Engine
) -> None:
    add_staff(engine, ADMIN, "lunexxa", role="admin")
    with Session(engine) as session:
        _, secret = enable_totp(session, email=ADMIN, actor="test")
        session.commit()
    token = csrf_of(console.get("/staff/login").text)
    step = console.post(
        "/staff/login", data={"email": ADMIN, "password": PASSWORD, "csrf_token": token}
    )
    assert step.status_code == 200
    assert 'name="code"' in step.text
    assert "dsar_staff" not in console.cookies  # no session before the code
    assert console.get("/staff/requests", headers={"accept": "application/json"}).status_code == 401
    wrong = console.post(
        "/staff/login/code", data={"code": "000000", "csrf_token": csrf_of(step.text)}
    )
    assert wrong.status_code == 401
    right = console.post(
        "/staff/login/code",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(wrong.text)},
    )
    assert right.status_code == 200
    assert "Open requests" in right.text


def test_a_code_without_the_password_step_is_refused(console: TestClient, engine: Engine) -> None:
    token = csrf_of(console.get("/staff/login").text)
    answer = console.post("/staff/login/code", data={"code": "123456", "csrf_token": token})
    assert answer.status_code == 401
    assert "password first" in answer.text
