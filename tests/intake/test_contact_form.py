"""The contact-form webhook stores each signed delivery once; refusals store nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.audit import events_for
from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.intake import MAX_BODY, create_app
from dsar.notify import SIGNATURE_HEADER
from dsar.settings import get_settings
from tests.conftest import LUNEXXA
from tests.intake.conftest import (
    NO_LIMIT,
    SECRET,
    VALID,
    RecordingDispatcher,
    TestClient,
    contact_headers,
    encode,
    request_count,
    sign,
    stored_requests,
)

URL = "/webhooks/contact-form"


def post(client: TestClient, payload: dict[str, Any], **headers: str) -> Any:
    body = encode(payload)
    return client.post(URL, content=body, headers=contact_headers(body, **headers))


class TestAccepted:
    def test_signed_delivery_is_stored_and_answered_with_id_and_due_date(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A valid delivery answers 202 {id, status, due_date, regime} and starts processing."""
        response = post(client, VALID)
        assert response.status_code == 202
        body = response.json()
        assert set(body) == {"id", "status", "due_date", "regime"}
        assert body["status"] == "received"
        assert body["regime"] == "gdpr"
        [stored] = stored_requests(engine)
        assert stored.id == body["id"]
        assert stored.due_date == date.fromisoformat(body["due_date"])
        assert stored.channel == Channel.CONTACT_FORM
        assert stored.kind == RequestKind.ACCESS
        assert stored.language == "de"
        assert stored.details["order_number"] == "#1042"
        assert "classification" not in stored.details
        assert dispatcher.calls == [stored.id]

    def test_form_encoded_delivery_is_accepted_like_json(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Websites that post a plain HTML form (x-www-form-urlencoded) are served too."""
        body = b"kind=erasure&email=jana%40example.com&name=Jana&controller=lunexxa"
        headers = {
            "content-type": "application/x-www-form-urlencoded",
            SIGNATURE_HEADER: sign(body),
        }
        response = client.post(URL, content=body, headers=headers)
        assert response.status_code == 202
        [stored] = stored_requests(engine)
        assert stored.kind == RequestKind.ERASURE
        assert stored.language == "en"  # no language given: the register's default_language

    def test_request_is_committed_before_the_answer(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """When the dispatcher is called, the request is already readable from another session."""
        seen: list[int] = []
        dispatcher.dispatch = lambda request_id: seen.append(request_count(engine))  # type: ignore[method-assign]
        assert post(client, VALID).status_code == 202
        assert seen == [1]

    def test_failing_dispatcher_still_answers_accepted(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A stored request is accepted even if it cannot start now; the monitor picks it up."""
        dispatcher.fail = True
        response = post(client, VALID)
        assert response.status_code == 202
        assert request_count(engine) == 1
        assert stored_requests(engine)[0].status == RequestStatus.RECEIVED

    def test_single_register_needs_no_controller_field(
        self, monkeypatch: pytest.MonkeyPatch, engine: Engine
    ) -> None:
        """With DSAR_REGISTER set, a delivery without ``controller`` goes to that register."""
        monkeypatch.setenv("DSAR_REGISTER", str(LUNEXXA))
        monkeypatch.setenv("DSAR_WEBHOOK_SECRET", SECRET)
        get_settings.cache_clear()
        with TestClient(create_app(rate_limit=NO_LIMIT)) as client:
            response = post(client, {k: v for k, v in VALID.items() if k != "controller"})
        assert response.status_code == 202
        assert stored_requests(engine)[0].controller == "lunexxa"


class TestSignature:
    @pytest.mark.parametrize(
        ("signature", "reason"),
        [
            (lambda body: sign(body, secret="not-the-secret"), "signature does not match"),
            (lambda body: sign(body, at=time.time() - 301), "timestamp too old"),
            (lambda body: sign(body, at=time.time() + 120), "timestamp in the future"),
            (lambda body: "", "missing header"),
            (lambda body: "v1=abc", "no timestamp"),
            (lambda body: "garbage", "unparseable header"),
        ],
        ids=["wrong-secret", "stale", "future", "missing", "no-timestamp", "unparseable"],
    )
    def test_bad_signature_is_refused_with_its_reason_and_nothing_stored(
        self,
        client: TestClient,
        engine: Engine,
        dispatcher: RecordingDispatcher,
        signature: Any,
        reason: str,
    ) -> None:
        """Only deliveries signed with the shared secret within 300 s are read at all."""
        body = encode(VALID)
        headers = {"content-type": "application/json", SIGNATURE_HEADER: signature(body)}
        response = client.post(URL, content=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid_signature", "detail": reason}
        assert request_count(engine) == 0
        assert dispatcher.calls == []

    def test_body_changed_after_signing_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The signature covers the exact bytes: a tampered body does not match."""
        body = encode(VALID)
        tampered = encode({**VALID, "kind": "erasure"})
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(body)}
        response = client.post(URL, content=tampered, headers=headers)
        assert response.status_code == 401
        assert request_count(engine) == 0

    def test_rotation_accepts_any_listed_v1(self, client: TestClient, engine: Engine) -> None:
        """During a secret rotation the sender signs with old and new secret; one match suffices."""
        body = encode(VALID)
        now = int(time.time())
        old = sign(body, at=now, secret="retired-secret")
        new = sign(body, at=now)
        header = f"{old},v1={new.split('v1=')[1]}"
        response = client.post(
            URL,
            content=body,
            headers={"content-type": "application/json", SIGNATURE_HEADER: header},
        )
        assert response.status_code == 202
        assert request_count(engine) == 1

    def test_without_a_configured_secret_every_delivery_is_refused(
        self, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """An empty DSAR_WEBHOOK_SECRET never means 'accept unsigned': 503 with the reason."""
        with TestClient(create_app(dispatcher=dispatcher, rate_limit=NO_LIMIT)) as client:
            body = encode(VALID)
            for signature in ("", sign(body, secret="anything")):
                response = client.post(
                    URL,
                    content=body,
                    headers={"content-type": "application/json", SIGNATURE_HEADER: signature},
                )
                assert response.status_code == 503
                assert response.json()["error"] == "webhook_secret_missing"
                assert "DSAR_WEBHOOK_SECRET" in response.json()["detail"]
        assert request_count(engine) == 0


class TestIdempotency:
    def test_replayed_delivery_gets_the_same_answer_and_stores_once(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The same delivery (same signature) twice: one request, the original response twice."""
        body = encode(VALID)
        headers = contact_headers(body)
        first = client.post(URL, content=body, headers=headers)
        second = client.post(URL, content=body, headers=headers)
        assert first.status_code == second.status_code == 202
        assert first.json() == second.json()
        assert request_count(engine) == 1
        assert len(dispatcher.calls) == 1

    def test_idempotency_key_makes_a_re_signed_retry_the_same_delivery(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A retry signed anew but with the same Idempotency-Key returns the first answer."""
        body = encode(VALID)
        first = client.post(
            URL, content=body, headers=contact_headers(body, **{"Idempotency-Key": "form-7"})
        )
        retry_headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(body, at=time.time() - 5),
            "Idempotency-Key": "form-7",
        }
        second = client.post(URL, content=body, headers=retry_headers)
        assert first.status_code == second.status_code == 202
        assert first.json() == second.json()
        assert request_count(engine) == 1
        assert stored_requests(engine)[0].idempotency_key == "webhook:form-7"
        assert len(dispatcher.calls) == 1

    def test_replay_answers_as_first_even_after_the_request_moved_on(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The stored first response is returned, not the request's later state."""
        body = encode(VALID)
        headers = contact_headers(body, **{"Idempotency-Key": "form-8"})
        first = client.post(URL, content=body, headers=headers).json()
        with Session(engine) as session:
            [stored] = stored_requests(engine)
            stored.status = RequestStatus.VERIFYING
            session.add(stored)
            session.commit()
        assert client.post(URL, content=body, headers=headers).json() == first

    def test_same_key_with_a_different_body_is_a_conflict(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Reusing an Idempotency-Key for other content is refused with 409, nothing stored."""
        assert post(client, VALID, **{"Idempotency-Key": "form-9"}).status_code == 202
        response = post(client, {**VALID, "kind": "erasure"}, **{"Idempotency-Key": "form-9"})
        assert response.status_code == 409
        assert response.json()["error"] == "idempotency_conflict"
        assert request_count(engine) == 1
        assert stored_requests(engine)[0].kind == RequestKind.ACCESS

    def test_malformed_idempotency_key_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A key must be 1-128 safe characters."""
        response = post(client, VALID, **{"Idempotency-Key": "x" * 129})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_delivery_id"
        assert request_count(engine) == 0


class TestBadInput:
    def test_oversized_body_is_refused_by_its_declared_length(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Bodies over 64 KiB are refused with 413 before anything else is read."""
        body = encode({**VALID, "message": "x" * MAX_BODY})
        response = client.post(URL, content=body, headers=contact_headers(body))
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"
        assert request_count(engine) == 0

    def test_oversized_body_without_length_is_cut_off_while_reading(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A chunked body without Content-Length is counted as it arrives and refused at the cap."""
        body = encode({**VALID, "message": "x" * MAX_BODY})

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        response = client.post(URL, content=chunks(), headers=contact_headers(body))
        assert response.status_code == 413
        assert request_count(engine) == 0

    def test_understated_length_does_not_lift_the_cap(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A Content-Length that claims less than is sent changes nothing."""
        body = encode({**VALID, "message": "x" * MAX_BODY})
        headers = {**contact_headers(body), "content-length": "100"}

        def chunks() -> Iterator[bytes]:
            yield body

        response = client.post(URL, content=chunks(), headers=headers)
        assert response.status_code == 413
        assert request_count(engine) == 0

    def test_malformed_json_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A signed body that is not JSON answers 400 with a reason."""
        body = b'{"kind": "access", "email": '
        response = client.post(URL, content=body, headers=contact_headers(body))
        assert response.status_code == 400
        assert response.json() == {
            "error": "malformed_body",
            "detail": "the body is not valid JSON",
        }
        assert request_count(engine) == 0

    def test_json_that_is_not_an_object_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A JSON array or string carries no fields."""
        body = b'["access"]'
        response = client.post(URL, content=body, headers=contact_headers(body))
        assert response.status_code == 400
        assert response.json()["detail"] == "the body must be a JSON object"
        assert request_count(engine) == 0

    @pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
    def test_wrong_content_type_is_refused(
        self, client: TestClient, engine: Engine, content_type: str
    ) -> None:
        """Only JSON and form-encoded bodies are read (415 otherwise)."""
        body = encode(VALID)
        headers = {"content-type": content_type, SIGNATURE_HEADER: sign(body)}
        response = client.post(URL, content=body, headers=headers)
        assert response.status_code == 415
        assert response.json()["error"] == "unsupported_media_type"
        assert request_count(engine) == 0

    @pytest.mark.parametrize(
        ("missing", "field"),
        [(("email",), "email"), (("name",), "name"), (("kind", "message"), "kind")],
        ids=["email", "name", "kind-and-message"],
    )
    def test_every_missing_field_is_named(
        self, client: TestClient, engine: Engine, missing: tuple[str, ...], field: str
    ) -> None:
        """Each missing field answers 422 naming it; kind may be left out only with a message."""
        payload = {k: v for k, v in VALID.items() if k not in missing}
        response = post(client, payload)
        assert response.status_code == 422
        body = response.json()
        assert body["error"] == "invalid_fields"
        assert [problem["field"] for problem in body["detail"]] == [field]
        assert request_count(engine) == 0

    def test_invalid_email_is_refused_without_echoing_it(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The reason names the field and rule, never the value that was sent."""
        response = post(client, {**VALID, "email": "jana.novak@@example"})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"field": "email", "message": "not a valid e-mail address"}
        ]
        assert "jana.novak" not in response.text
        assert request_count(engine) == 0

    def test_unknown_kind_is_refused(self, client: TestClient, engine: Engine) -> None:
        """Only the six rights are kinds of request."""
        response = post(client, {**VALID, "kind": "complaint"})
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "kind"
        assert "access" in problem["message"]
        assert request_count(engine) == 0

    def test_unknown_controller_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A controller key without a register answers 422 on ``controller``."""
        response = post(client, {**VALID, "controller": "no-such-shop"})
        assert response.status_code == 422
        assert response.json()["detail"] == [
            {"field": "controller", "message": "unknown controller"}
        ]
        assert request_count(engine) == 0

    def test_missing_controller_with_several_registers_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        """When the service serves several registers, the delivery must say which."""
        response = post(client, {k: v for k, v in VALID.items() if k != "controller"})
        assert response.status_code == 422
        [problem] = response.json()["detail"]
        assert problem["field"] == "controller"
        assert "lunexxa" in problem["message"]
        assert request_count(engine) == 0


class TestClassification:
    def test_message_without_kind_is_classified_and_started(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """A clear German message becomes an erasure request, marked confident, and starts."""
        payload = {k: v for k, v in VALID.items() if k != "kind"}
        payload["message"] = "Bitte löschen Sie alle meine Daten."
        assert post(client, payload).status_code == 202
        [stored] = stored_requests(engine)
        assert stored.kind == RequestKind.ERASURE
        assert stored.details["classification"] == {"kind": "erasure", "confident": True}
        assert dispatcher.calls == [stored.id]
        with Session(engine) as session:
            actions = [e.action for e in events_for(session, stored.id)]
        assert "kind_classified" in actions

    def test_unclear_message_is_stored_as_access_and_waits_for_staff(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """An unsure reading is still a request (the clock runs) but is not started unconfirmed."""
        payload = {k: v for k, v in VALID.items() if k != "kind"}
        payload["message"] = "Hello, I have a question about my order."
        assert post(client, payload).status_code == 202
        [stored] = stored_requests(engine)
        assert stored.kind == RequestKind.ACCESS
        assert stored.details["classification"] == {"kind": "access", "confident": False}
        assert dispatcher.calls == []


class TestUnexpectedErrors:
    def test_unexpected_error_is_a_500_without_details(self, secrets_env: None) -> None:
        """A fault of the service answers a bare 500: no traceback or message reaches the sender."""
        app: FastAPI = create_app(rate_limit=NO_LIMIT)

        async def boom() -> None:
            raise RuntimeError("database password is hunter2")

        app.add_api_route("/boom", boom)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/boom")
        assert response.status_code == 500
        assert response.json() == {"error": "internal_error", "detail": None}
        assert "hunter2" not in response.text

    def test_unknown_route_answers_json_404(self, client: TestClient) -> None:
        """Errors outside the routes use the same {error, detail} shape."""
        response = client.get("/no-such-page")
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"
