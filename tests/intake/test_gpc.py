"""Global Privacy Control: ``Sec-GPC: 1`` on the request page and the intake API is an opt-out."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.enums import Channel, RequestKind
from dsar.models import AuditEvent, Request
from tests.intake.conftest import (
    RecordingDispatcher,
    TestClient,
    contact_headers,
    encode,
    request_count,
    stored_requests,
)
from tests.intake.test_page import PAGE, fields, token_of

GPC = {"Sec-GPC": "1"}


def opt_outs(engine: Engine) -> list[Request]:
    return [r for r in stored_requests(engine) if r.kind == RequestKind.OPT_OUT]


class TestRequestPage:
    def test_post_with_gpc_records_an_opt_out_for_the_posted_address(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """The access request is stored, and beside it an opt-out for the same consumer."""
        token = token_of(client.get(PAGE).text)
        data = fields(token, controller="luma-flux", email="consumer@example.com")
        response = client.post(PAGE, data=data, headers=GPC)
        assert response.status_code == 200
        [opt_out] = opt_outs(engine)
        assert (opt_out.email, opt_out.channel) == ("consumer@example.com", Channel.WEB_PAGE)
        assert "Sec-GPC" in opt_out.details["signal"]
        assert request_count(engine) == 2
        assert opt_out.id in dispatcher.calls
        with Session(engine) as session:
            actions = {
                e.action
                for e in session.exec(select(AuditEvent).where(AuditEvent.request_id == opt_out.id))
            }
        assert "verification_not_required" in actions

    def test_post_without_the_signal_records_no_opt_out(
        self, client: TestClient, engine: Engine
    ) -> None:
        """No header, or a header other than 1, is no opt-out."""
        token = token_of(client.get(PAGE).text)
        client.post(PAGE, data=fields(token, controller="luma-flux"), headers={"Sec-GPC": "0"})
        assert opt_outs(engine) == []
        assert request_count(engine) == 1

    def test_repeated_post_with_gpc_records_one_opt_out(
        self, client: TestClient, engine: Engine
    ) -> None:
        """A double click sends the signal twice: one opt-out."""
        token = token_of(client.get(PAGE).text)
        data = fields(token, controller="luma-flux")
        client.post(PAGE, data=data, headers=GPC)
        client.post(PAGE, data=data, headers=GPC)
        assert len(opt_outs(engine)) == 1

    def test_gpc_to_a_gdpr_shop_records_nothing_more(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Lunexxa is under the GDPR, which knows no opt-out of sale: only the request is kept."""
        token = token_of(client.get(PAGE).text)
        response = client.post(PAGE, data=fields(token), headers=GPC)
        assert response.status_code == 200
        assert opt_outs(engine) == []

    def test_opt_out_posted_to_a_gdpr_shop_is_refused_and_nothing_stored(
        self, client: TestClient, engine: Engine
    ) -> None:
        """An opt-out kind for Lunexxa is bad input: 4xx with the form, nothing stored."""
        token = token_of(client.get(PAGE).text)
        response = client.post(PAGE, data=fields(token, kind="opt-out"))
        assert 400 <= response.status_code < 500
        assert request_count(engine) == 0


class TestIntakeApi:
    def test_contact_form_with_gpc_records_an_opt_out(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The website forwards its visitor's signal: an opt-out for the address in the form."""
        body = encode(
            {
                "controller": "luma-flux",
                "kind": "access",
                "email": "consumer@example.com",
                "name": "C",
            }
        )
        response = client.post(
            "/webhooks/contact-form", content=body, headers=contact_headers(body, **GPC)
        )
        assert response.status_code == 202, response.text
        [opt_out] = opt_outs(engine)
        assert (opt_out.email, opt_out.channel) == ("consumer@example.com", Channel.CONTACT_FORM)

    def test_opt_out_for_a_gdpr_shop_is_422_with_a_reason(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The API says why and stores nothing."""
        body = encode(
            {"controller": "lunexxa", "kind": "opt-out", "email": "k@example.com", "name": "K"}
        )
        response = client.post(
            "/webhooks/contact-form", content=body, headers=contact_headers(body)
        )
        assert response.status_code == 422
        assert "US state privacy law" in response.text
        assert request_count(engine) == 0
