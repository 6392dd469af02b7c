"""Deliveries for one shop pass only with that shop's secrets.

Both shipped registers are served, each shop with its own contact-form secret, Shopify app
secret and shop domain (DSAR_CONTROLLERS__<KEY>__*): a post signed with Lunexxa's secret for
Luma-Flux is refused, and a Shopify compliance webhook goes to the shop its
X-Shopify-Shop-Domain names. Nothing refused is stored.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from dsar.intake import CsrfGuard, create_app, shopify_hmac
from dsar.notify import SIGNATURE_HEADER
from dsar.settings import ConfigurationError, get_settings
from tests.conftest import LUNEXXA
from tests.intake.conftest import (
    NO_LIMIT,
    VALID,
    RecordingDispatcher,
    TestClient,
    encode,
    request_count,
    sign,
    stored_requests,
)

SECRETS = {"lunexxa": "lunexxa-form-secret", "luma-flux": "luma-flux-form-secret"}
APP_SECRETS = {"lunexxa": "lunexxa-app-secret", "luma-flux": "luma-flux-app-secret"}
DOMAINS = {"lunexxa": "lunexxa.myshopify.com", "luma-flux": "luma-flux.myshopify.com"}
CONTACT = "/webhooks/contact-form"
SHOPIFY = "/webhooks/shopify"


def _env(key: str) -> str:
    return key.upper().replace("-", "_")


@pytest.fixture
def shops(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each shipped register's shop with secrets and a shop domain of its own."""
    for key in SECRETS:
        prefix = f"DSAR_CONTROLLERS__{_env(key)}__"
        monkeypatch.setenv(prefix + "WEBHOOK_SECRET", SECRETS[key])
        monkeypatch.setenv(prefix + "SHOPIFY_APP_SECRET", APP_SECRETS[key])
        monkeypatch.setenv(prefix + "SHOPIFY_SHOP_DOMAIN", DOMAINS[key])
    get_settings.cache_clear()


@pytest.fixture
def client(shops: None, engine: Engine, dispatcher: RecordingDispatcher) -> Iterator[TestClient]:
    with TestClient(create_app(dispatcher=dispatcher, rate_limit=NO_LIMIT)) as test_client:
        yield test_client


def contact(client: TestClient, controller: str, *, secret: str) -> Any:
    body = encode({**VALID, "controller": controller, "language": "en"})
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign(body, secret=secret)}
    return client.post(CONTACT, content=body, headers=headers)


def shopify(client: TestClient, domain: str, *, secret: str, url: str = SHOPIFY) -> Any:
    body = json.dumps(
        {
            "shop_id": 954889,
            "shop_domain": domain,
            "orders_requested": [299938],
            "customer": {"id": 191167, "email": "john@example.com"},
            "data_request": {"id": 9999},
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "X-Shopify-Topic": "customers/data_request",
        "X-Shopify-Hmac-Sha256": shopify_hmac(secret, body),
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Webhook-Id": f"delivery-{domain}-{secret}",
    }
    return client.post(url, content=body, headers=headers)


class TestContactForm:
    def test_a_post_signed_with_another_shops_secret_is_refused_and_not_stored(
        self, client: TestClient, engine: Engine, dispatcher: RecordingDispatcher
    ) -> None:
        response = contact(client, "luma-flux", secret=SECRETS["lunexxa"])
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
        assert request_count(engine) == 0
        assert dispatcher.calls == []

    def test_each_shop_takes_posts_signed_with_its_own_secret(
        self, client: TestClient, engine: Engine
    ) -> None:
        for key in ("luma-flux", "lunexxa"):
            assert contact(client, key, secret=SECRETS[key]).status_code == 202
        assert sorted(r.controller for r in stored_requests(engine)) == ["luma-flux", "lunexxa"]

    def test_a_post_naming_no_shop_is_refused_before_any_secret_is_tried(
        self, client: TestClient, engine: Engine
    ) -> None:
        body = encode({k: v for k, v in VALID.items() if k != "controller"})
        for secret in SECRETS.values():
            response = client.post(
                CONTACT,
                content=body,
                headers={
                    "content-type": "application/json",
                    SIGNATURE_HEADER: sign(body, secret=secret),
                },
            )
            assert response.status_code == 422
            assert response.json()["detail"][0]["field"] == "controller"
        assert request_count(engine) == 0

    def test_a_shop_without_a_secret_of_its_own_refuses_posts_naming_its_variable(
        self, monkeypatch: pytest.MonkeyPatch, shops: None, engine: Engine
    ) -> None:
        monkeypatch.delenv("DSAR_CONTROLLERS__LUMA_FLUX__WEBHOOK_SECRET")
        get_settings.cache_clear()
        with TestClient(create_app(rate_limit=NO_LIMIT)) as client:
            response = contact(client, "luma-flux", secret=SECRETS["lunexxa"])
        assert response.status_code == 503
        assert response.json()["detail"].startswith("DSAR_CONTROLLERS__LUMA_FLUX__WEBHOOK_SECRET ")
        assert request_count(engine) == 0


class TestShopifyWebhooks:
    def test_a_webhook_goes_to_the_shop_its_domain_names(
        self, client: TestClient, engine: Engine
    ) -> None:
        response = shopify(client, DOMAINS["luma-flux"], secret=APP_SECRETS["luma-flux"])
        assert response.status_code == 200
        assert [r.controller for r in stored_requests(engine)] == ["luma-flux"]

    def test_a_webhook_signed_with_another_shops_app_secret_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        response = shopify(client, DOMAINS["luma-flux"], secret=APP_SECRETS["lunexxa"])
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_signature"
        assert request_count(engine) == 0

    def test_a_webhook_from_a_shop_not_served_here_is_refused_with_the_reason(
        self, client: TestClient, engine: Engine
    ) -> None:
        response = shopify(client, "elsewhere.myshopify.com", secret=APP_SECRETS["lunexxa"])
        assert response.status_code == 401
        assert response.json() == {
            "error": "unknown_shop",
            "detail": "X-Shopify-Shop-Domain names no shop this service serves",
        }
        assert request_count(engine) == 0

    def test_a_url_naming_another_shop_than_the_domain_is_refused(
        self, client: TestClient, engine: Engine
    ) -> None:
        response = shopify(
            client,
            DOMAINS["luma-flux"],
            secret=APP_SECRETS["luma-flux"],
            url=f"{SHOPIFY}?controller=lunexxa",
        )
        assert response.status_code == 401
        assert response.json()["error"] == "unknown_shop"
        assert request_count(engine) == 0


class TestStartUp:
    def test_an_unprefixed_secret_beside_several_shops_is_refused(
        self, monkeypatch: pytest.MonkeyPatch, shops: None
    ) -> None:
        monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "whose-secret")
        get_settings.cache_clear()
        with pytest.raises(ConfigurationError, match="DSAR_WEBHOOK_SECRET is set"):
            create_app(rate_limit=NO_LIMIT)

    def test_one_register_keeps_the_unprefixed_secrets(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: Engine
    ) -> None:
        folder = tmp_path / "registers"
        folder.mkdir()
        shutil.copy(LUNEXXA, folder / LUNEXXA.name)
        monkeypatch.setenv("DSAR_REGISTERS_DIR", str(folder))
        monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "one-shop-secret")
        monkeypatch.setenv("DSAR_SHOPIFY_APP_SECRET", "one-app-secret")
        monkeypatch.setenv("DSAR_CONTROLLERS__LUNEXXA__SHOPIFY_SHOP_DOMAIN", DOMAINS["lunexxa"])
        get_settings.cache_clear()
        with TestClient(create_app(rate_limit=NO_LIMIT)) as client:
            body = encode({k: v for k, v in VALID.items() if k != "controller"})
            headers = {
                "content-type": "application/json",
                SIGNATURE_HEADER: sign(body, secret="one-shop-secret"),
            }
            assert client.post(CONTACT, content=body, headers=headers).status_code == 202
            webhook = shopify(client, DOMAINS["lunexxa"], secret="one-app-secret")
            assert webhook.status_code == 200
        assert [r.controller for r in stored_requests(engine)] == ["lunexxa", "lunexxa"]

    def test_the_request_page_keys_its_csrf_tokens_alike_in_every_worker(self, shops: None) -> None:
        """Without an unprefixed secret the shops' secrets key the page's CSRF tokens, so a
        form served by one worker is accepted by another."""
        first = create_app(rate_limit=NO_LIMIT).state.intake.csrf
        second = create_app(rate_limit=NO_LIMIT).state.intake.csrf
        token = first.issue()
        assert second.check(token, token) is not None
        assert CsrfGuard.for_secret("").check(token, token) is None
