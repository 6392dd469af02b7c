"""Shopify's mandatory compliance webhooks become verified access and erasure requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.audit import verify_chain
from dsar.enums import Channel, RequestKind
from dsar.intake import shopify_hmac
from dsar.models import AuditEvent
from tests.intake.conftest import (
    SHOPIFY_SECRET,
    RecordingDispatcher,
    TestClient,
    request_count,
    stored_requests,
)

URL = "/webhooks/shopify?controller=lunexxa"

# Shopify's documented example payloads (processor-apis.md, shopify.dev privacy compliance).
DATA_REQUEST: dict[str, Any] = {
    "shop_id": 954889,
    "shop_domain": "x.myshopify.com",
    "orders_requested": [299938],
    "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
    "data_request": {"id": 9999},
}
CUSTOMER_REDACT: dict[str, Any] = {
    "shop_id": 954889,
    "shop_domain": "x.myshopify.com",
    "customer": {"id": 191167, "email": "john@example.com", "phone": "555-625-1199"},
    "orders_to_redact": [299938, 280263, 220458],
}
SHOP_REDACT: dict[str, Any] = {"shop_id": 954889, "shop_domain": "x.myshopify.com"}


def deliver(
    client: TestClient,
    topic: str,
    payload: dict[str, Any],
    *,
    webhook_id: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    secret: str = SHOPIFY_SECRET,
    url: str = URL,
) -> Any:
    body = json.dumps(payload).encode()
    headers = {
        "content-type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
        "X-Shopify-Shop-Domain": payload["shop_domain"],
        "X-Shopify-API-Version": "2025-07",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Triggered-At": "2026-03-05T09:00:00.000000000Z",
    }
    return client.post(url, content=body, headers=headers)


class TestCustomerTopics:
    def test_data_request_becomes_a_verified_access_request(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """customers/data_request → access, channel shopify_webhook, verified, customer id kept."""
        response = deliver(client, "customers/data_request", DATA_REQUEST)
        assert response.status_code == 200
        [stored] = stored_requests(engine)
        assert response.json() == {
            "id": stored.id,
            "status": "received",
            "due_date": stored.due_date.isoformat(),
            "regime": "gdpr",
        }
        assert stored.kind == RequestKind.ACCESS
        assert stored.channel == Channel.SHOPIFY_WEBHOOK
        assert stored.verified_at is not None
        assert stored.verified_by == "Shopify compliance webhook"
        assert stored.customer_id == "191167"
        assert stored.email == "john@example.com"
        assert stored.details["shopify"]["orders_requested"] == [299938]
        assert stored.details["shopify"]["data_request_id"] == "9999"
        assert dispatcher.calls == [stored.id]

    def test_customer_redact_becomes_a_verified_erasure_request(
        self, client: TestClient, engine: Engine
    ) -> None:
        """customers/redact → erasure with the orders to redact."""
        assert deliver(client, "customers/redact", CUSTOMER_REDACT).status_code == 200
        [stored] = stored_requests(engine)
        assert stored.kind == RequestKind.ERASURE
        assert stored.verified_by == "Shopify compliance webhook"
        assert stored.details["shopify"]["orders_to_redact"] == [299938, 280263, 220458]

    def test_redelivery_with_the_same_webhook_id_stores_once(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """Shopify retries for 48 hours; X-Shopify-Webhook-Id makes every retry the same one."""
        first = deliver(client, "customers/redact", CUSTOMER_REDACT)
        second = deliver(client, "customers/redact", CUSTOMER_REDACT)
        assert first.status_code == second.status_code == 200
        assert first.json() == second.json()
        assert request_count(engine) == 1
        assert len(dispatcher.calls) == 1

    def test_different_webhook_ids_are_different_requests(
        self, client: TestClient, engine: Engine
    ) -> None:
        """Two deliveries with their own ids are two requests."""
        deliver(client, "customers/data_request", DATA_REQUEST, webhook_id="w-1")
        deliver(client, "customers/data_request", DATA_REQUEST, webhook_id="w-2")
        assert request_count(engine) == 2


class TestHmac:
    @pytest.mark.parametrize("secret", ["not-the-app-secret", ""])
    def test_wrong_hmac_is_refused_with_401(
        self, client: TestClient, engine: Engine, secret: str
    ) -> None:
        """Shopify requires 401 for a delivery whose HMAC does not match the app secret."""
        if secret:
            response = deliver(client, "customers/data_request", DATA_REQUEST, secret=secret)
        else:
            body = json.dumps(DATA_REQUEST).encode()
            response = client.post(
                URL,
                content=body,
                headers={"content-type": "application/json", "X-Shopify-Topic": "shop/redact"},
            )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
        assert request_count(engine) == 0

    def test_hmac_is_over_the_raw_body(self, client: TestClient, engine: Engine) -> None:
        """A body re-serialised after signing no longer matches."""
        body = json.dumps(DATA_REQUEST).encode()
        headers = {
            "content-type": "application/json",
            "X-Shopify-Topic": "customers/data_request",
            "X-Shopify-Hmac-Sha256": shopify_hmac(SHOPIFY_SECRET, body),
        }
        response = client.post(URL, content=json.dumps(DATA_REQUEST, indent=2), headers=headers)
        assert response.status_code == 401
        assert request_count(engine) == 0


class TestShopRedact:
    def test_shop_redact_is_recorded_as_an_audit_event_without_a_request(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        """shop/redact names no data subject: an audit event records it, no request is created."""
        response = deliver(client, "shop/redact", SHOP_REDACT)
        assert response.status_code == 200
        assert response.json() == {"status": "accepted", "shop_id": 954889}
        assert request_count(engine) == 0
        assert dispatcher.calls == []
        with Session(engine) as session:
            [event] = session.exec(
                select(AuditEvent).where(AuditEvent.action == "shop_redact_received")
            ).all()
            assert event.request_id is None
            assert event.data["shop_id"] == 954889
            assert event.data["shop_domain"] == "x.myshopify.com"
            assert verify_chain(session).ok

    def test_shop_redact_redelivery_is_recorded_once(
        self, client: TestClient, engine: Engine
    ) -> None:
        """The same webhook id twice leaves one audit event."""
        deliver(client, "shop/redact", SHOP_REDACT)
        deliver(client, "shop/redact", SHOP_REDACT)
        with Session(engine) as session:
            events = session.exec(
                select(AuditEvent).where(AuditEvent.action == "shop_redact_received")
            ).all()
        assert len(events) == 1


class TestBadPayloads:
    def test_unknown_topic_is_refused(self, client: TestClient, engine: Engine) -> None:
        """Only the three compliance topics are handled here."""
        response = deliver(client, "orders/create", DATA_REQUEST)
        assert response.status_code == 422
        assert response.json()["error"] == "unsupported_topic"
        assert request_count(engine) == 0

    def test_customer_without_email_is_refused(self, client: TestClient, engine: Engine) -> None:
        """A request needs an address to answer to; staff enter such a request by hand."""
        payload = {**DATA_REQUEST, "customer": {"id": 191167, "email": None, "phone": None}}
        response = deliver(client, "customers/data_request", payload)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "customer.email"
        assert request_count(engine) == 0

    def test_unknown_controller_is_refused(self, client: TestClient, engine: Engine) -> None:
        """The webhook URL's ?controller= must name a served register."""
        response = deliver(
            client, "customers/data_request", DATA_REQUEST, url="/webhooks/shopify?controller=x"
        )
        assert response.status_code == 422
        assert request_count(engine) == 0
