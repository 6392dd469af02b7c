"""A rectification carries its values: from the contact form, or asked for on the
verification page; it is never confirmed (and so never carried out) empty."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.audit import events_for
from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.identity import issue_challenge
from dsar.models import utcnow
from tests.factories import make_request
from tests.intake.conftest import (
    VALID,
    RecordingDispatcher,
    TestClient,
    contact_headers,
    encode,
    request_count,
    stored_requests,
)
from tests.intake.test_links import reload, token_of

URL = "/webhooks/contact-form"


def post(client: TestClient, **changes: object) -> int:
    body = encode({**VALID, **changes})
    return client.post(URL, content=body, headers=contact_headers(body)).status_code


class TestContactFormCorrections:
    def test_corrections_are_stored_as_the_requests_changes(
        self, client: TestClient, engine: Engine
    ) -> None:
        """`corrections` (field → new value) become the values the rectification writes."""
        corrections = {"last_name": "Beispiel-Neu", "city": "Graz", "zip": "8010"}
        assert post(client, kind="rectification", corrections=corrections) == 202
        [stored] = stored_requests(engine)
        assert stored.kind is RequestKind.RECTIFICATION
        assert stored.details["changes"] == corrections

    @pytest.mark.parametrize(
        "corrections",
        [{"password": "x"}, {"last_name": ["a"]}, ["last_name"], {"city": "x" * 201}],
        ids=["unknown-field", "not-text", "not-an-object", "too-long"],
    )
    def test_bad_corrections_are_refused_with_422_and_nothing_stored(
        self, client: TestClient, engine: Engine, corrections: object
    ) -> None:
        """Unknown fields and values that are no text are named (never echoed) and refused."""
        body = encode({**VALID, "kind": "rectification", "corrections": corrections})
        response = client.post(URL, content=body, headers=contact_headers(body))
        assert response.status_code == 422
        assert [p["field"] for p in response.json()["detail"]] == ["corrections"]
        assert "x" * 201 not in response.text
        assert request_count(engine) == 0


def _waiting_rectification(engine: Engine, language: str = "en") -> tuple[str, str]:
    with Session(engine, expire_on_commit=False) as session:
        request = make_request(
            session,
            kind=RequestKind.RECTIFICATION,
            channel=Channel.CONTACT_FORM,
            received_at=utcnow(),
            language=language,
        )
        _, token, _ = issue_challenge(session, request=request, tz="Europe/Vienna")
        session.commit()
        return request.id, token


class TestVerificationAsksForCorrections:
    def test_a_rectification_without_values_is_asked_for_them_and_not_confirmed_empty(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The page asks for the corrected values; pressing confirm without any is refused
        (400) and nothing starts; with one it is stored and the request starts."""
        request_id, token = _waiting_rectification(engine)
        page = client.get(f"/verify/{token}")
        assert 'name="correct_last_name"' in page.text
        empty = client.post(f"/verify/{token}", data={"csrf_token": token_of(page.text)})
        assert empty.status_code == 400
        assert "at least one corrected value" in empty.text
        assert reload(engine, request_id).status is RequestStatus.VERIFYING
        assert dispatcher.calls == []
        filled = client.post(
            f"/verify/{token}",
            data={"csrf_token": token_of(empty.text), "correct_last_name": "Beispiel-Neu"},
        )
        assert filled.status_code == 200
        stored = reload(engine, request_id)
        assert stored.details["changes"] == {"last_name": "Beispiel-Neu"}
        assert stored.verified_at is not None
        assert dispatcher.calls == [request_id]
        with Session(engine) as session:
            actions = [e.action for e in events_for(session, request_id)]
        assert "corrections_given" in actions

    def test_a_rectification_with_values_and_other_kinds_are_not_asked(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Only a rectification that lacks its values shows the fields."""
        with Session(engine, expire_on_commit=False) as session:
            request = make_request(
                session, channel=Channel.CONTACT_FORM, received_at=utcnow(), language="de"
            )
            _, token, _ = issue_challenge(session, request=request, tz="Europe/Vienna")
            session.commit()
        assert "correct_last_name" not in client.get(f"/verify/{token}").text


class TestRequestPageCorrections:
    def test_the_request_page_takes_the_corrected_values(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The page offers a field per correctable value; what is filled in is stored."""
        page = client.get("/privacy-request?lang=de")
        assert 'name="correct_city"' in page.text
        assert "Nur für eine Berichtigung" in page.text
        data = {
            "csrf_token": token_of(page.text), "language": "de", "controller": "lunexxa",
            "kind": "rectification", "email": "jana.novak@example.com", "name": "Jana Novak",
            "correct_city": "Graz", "correct_zip": "8010", "correct_last_name": "",
        }  # fmt: skip
        response = client.post("/privacy-request?lang=de", data=data)
        assert response.status_code == 200
        [stored] = stored_requests(engine)
        assert stored.details["changes"] == {"city": "Graz", "zip": "8010"}
