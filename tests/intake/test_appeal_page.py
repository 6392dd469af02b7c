"""The appeal form the denial letter links to: only the consumer appeals, once, with a reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar import lifecycle
from dsar.appeal_records import Appeal
from dsar.enums import RequestKind, RequestStatus
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from tests.intake.conftest import TestClient

PATH = "/privacy-request/appeal"
EMAIL = "consumer@example.com"


def stored(engine: Engine, *, residence: str = "VA", deny: bool = True) -> str:
    register = register_for("luma-flux")
    with Session(engine) as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller="luma-flux", kind=RequestKind.ACCESS, email=EMAIL,
                residence_country="US", residence_subdivision=residence,
            ),
            register=register,
            actor="staff:test",
        )  # fmt: skip
        if deny:
            lifecycle.transition(
                session, request=request, target=RequestStatus.REJECTED, actor="staff:test",
                reason="We could not verify the request.",
            )  # fmt: skip
        session.commit()
        return request.id


def appeals(engine: Engine) -> list[Appeal]:
    with Session(engine) as session:
        return list(session.exec(select(Appeal)))


def token_of(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match
    return match.group(1)


def post(client: TestClient, reference: str, **overrides: str) -> tuple[int, str]:
    form = client.get(PATH, params={"reference": reference})
    data = {"csrf_token": token_of(form.text), "reference": reference, "email": EMAIL,
            "reason": "I answered the confirmation e-mail in time."}  # fmt: skip
    data.update(overrides)
    response = client.post(PATH, data=data)
    return response.status_code, response.text


class TestAppealPage:
    def test_link_from_the_letter_fills_in_the_reference(
        self, client: TestClient, engine: Engine
    ) -> None:
        request_id = stored(engine)
        response = client.get(PATH, params={"reference": request_id})
        assert response.status_code == 200
        assert f'value="{request_id}"' in response.text

    def test_consumer_appeals_a_denied_virginia_request_due_in_60_days(
        self, client: TestClient, engine: Engine
    ) -> None:
        request_id = stored(engine)
        status, text = post(client, request_id)
        assert status == 200, text
        [appeal] = appeals(engine)
        assert appeal.request_id == request_id
        assert appeal.due_date - appeal.received_on == timedelta(days=60)
        assert appeal.id in text
        today = datetime.now(UTC).date()
        assert abs((appeal.received_on - today).days) <= 1

    def test_double_post_keeps_one_appeal(self, client: TestClient, engine: Engine) -> None:
        request_id = stored(engine)
        post(client, request_id)
        status, _text = post(client, request_id)
        assert status == 200
        assert len(appeals(engine)) == 1

    def test_another_address_cannot_appeal(self, client: TestClient, engine: Engine) -> None:
        """A wrong address looks like an unknown reference: 400, nothing stored."""
        request_id = stored(engine)
        status, text = post(client, request_id, email="someone@example.com")
        assert status == 400
        assert "found no request" in text
        assert appeals(engine) == []

    def test_request_not_denied_cannot_be_appealed(
        self, client: TestClient, engine: Engine
    ) -> None:
        request_id = stored(engine, deny=False)
        status, text = post(client, request_id)
        assert status == 400
        assert "only a denied" in text
        assert appeals(engine) == []

    def test_appeal_without_a_reason_is_refused(self, client: TestClient, engine: Engine) -> None:
        request_id = stored(engine)
        status, _text = post(client, request_id, reason=" ")
        assert status == 400
        assert appeals(engine) == []

    def test_post_without_csrf_token_stores_nothing(
        self, client: TestClient, engine: Engine
    ) -> None:
        request_id = stored(engine)
        response = client.post(PATH, data={"reference": request_id, "email": EMAIL, "reason": "x"})
        assert response.status_code == 400
        assert appeals(engine) == []
