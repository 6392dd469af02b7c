"""Shopify's official Python client (ShopifyAPI) against the emulator, over real sockets.

The client is Shopify's own reading of its API: if the emulator answers it as Shopify would,
the emulator is not merely agreeing with our connector. Every GraphQL document the connector
sends is executed through ``shopify.GraphQL().execute``, and the REST resources custom apps
still get (customer search, a customer, their orders, cursor pages) through the client's
resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import shopify

from connectors import shopify_graphql as documents
from sandbox import JONAS, MARIA, SHOP_ONLY
from sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.integration

VERSION = "2026-10"
TODAY = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    """One sandbox for the module, on a fixed date; erasures stay pending."""
    with running_sandbox(customers=60, async_delay=3600.0, wall_clock=lambda: TODAY) as box:
        yield box


@pytest.fixture
def session(running: RunningSandbox) -> Iterator[None]:
    """The official client's session, pointed at the emulator (the client builds
    ``https://<shop>.myshopify.com`` from a shop name; the site is the emulator's address)."""
    shopify.ShopifyResource.activate_session(
        shopify.Session("dsar-sandbox.myshopify.com", VERSION, running.shopify_token)
    )
    shopify.ShopifyResource.site = f"{running.shopify_url}/admin/api/{VERSION}"
    yield
    shopify.ShopifyResource.clear_session()


def execute(document: str, **variables: Any) -> dict[str, Any]:
    """A document through the client's GraphQL resource; the answer as JSON."""
    answer: dict[str, Any] = json.loads(shopify.GraphQL().execute(document, variables))
    return answer


def gid(kind: str, number: int | None) -> str:
    return f"gid://shopify/{kind}/{number}"


@pytest.mark.usefixtures("session")
class TestGraphQL:
    def test_every_query_the_connector_sends_is_answered(self) -> None:
        """Search, customer, account, addresses, orders, line items and scopes: data, no
        errors, and the cost Shopify reports."""
        maria = gid("Customer", MARIA.shopify_customer_id)
        found = execute(documents.FIND.text, query=f'email:"{MARIA.email}"', after=None)
        (node,) = found["data"]["customers"]["nodes"]
        assert node["defaultEmailAddress"]["emailAddress"] == MARIA.email
        orders = execute(documents.ORDERS.text, id=maria, after=None)
        first = orders["data"]["customer"]["orders"]["nodes"][0]
        for text, variables in (
            (documents.CUSTOMER.text, {"id": maria}),
            (documents.ACCOUNT.text, {"id": maria}),
            (documents.ADDRESSES.text, {"id": maria, "after": None}),
            (documents.LINE_ITEMS.text, {"id": first["id"], "after": None}),
            (documents.SCOPES.text, {}),
        ):
            answer = execute(text, **variables)
            assert "errors" not in answer, answer["errors"]
            assert answer["extensions"]["cost"]["throttleStatus"]["maximumAvailable"] == 2000
        assert first["paymentGatewayNames"]
        assert first["lineItems"]["nodes"]

    def test_every_mutation_the_connector_sends_is_carried_out(
        self, running: RunningSandbox
    ) -> None:
        """customerUpdate, customerAddressUpdate, consent, tags and erasure: no userErrors,
        and the shop's records changed."""
        state = running.sandbox.shopify
        jonas = gid("Customer", JONAS.shopify_customer_id)
        customer = state.get(JONAS.shopify_customer_id or 0)
        assert customer is not None
        address = f"gid://shopify/MailingAddress/{customer.addresses[0].id}"
        consent = {"marketingState": "UNSUBSCRIBED"}
        for text, field, variables in (
            (documents.UPDATE.text, "customerUpdate", {"input": {"id": jonas, "lastName": "B."}}),
            (
                documents.ADDRESS_UPDATE.text,
                "customerAddressUpdate",
                {"customerId": jonas, "addressId": address, "address": {"city": "Potsdam"}},
            ),
            (
                documents.CONSENT.text,
                "customerEmailMarketingConsentUpdate",
                {"input": {"customerId": jonas, "emailMarketingConsent": consent}},
            ),
            (documents.TAGS_ADD.text, "tagsAdd", {"id": jonas, "tags": ["dsar-restricted"]}),
            (documents.TAGS_REMOVE.text, "tagsRemove", {"id": jonas, "tags": ["dsar-restricted"]}),
            (documents.ERASE.text, "customerRequestDataErasure", {"customerId": jonas}),
        ):
            answer = execute(text, **variables)
            assert answer["data"][field]["userErrors"] == [], field
        assert (customer.last_name, customer.addresses[0].city) == ("B.", "Potsdam")
        assert customer.email_consent.state == "unsubscribed"
        assert state.erasure_status(customer.id) == "pending"

    def test_an_unknown_field_reaches_the_client_as_shopifys_error(self) -> None:
        """The client gets HTTP 200 and Shopify's ``undefinedField``."""
        answer = execute("{ shop { id nonsense } }")
        assert answer["errors"][0]["extensions"]["code"] == "undefinedField"


@pytest.mark.usefixtures("session")
class TestRest:
    def test_customer_search_find_and_orders(self) -> None:
        """``Customer.search``, ``Customer.find`` and a customer's orders, as the client
        reads them."""
        (found,) = shopify.Customer.search(query=f"email:{MARIA.email}")
        customer = shopify.Customer.find(found.id)
        orders = shopify.Order.find(customer_id=customer.id, status="any")
        assert found.id == MARIA.shopify_customer_id
        assert customer.email == MARIA.email
        assert [a.city for a in customer.addresses] == ["Wien", "Graz"]
        assert len(orders) == MARIA.shopify_orders
        assert {o.payment_gateway_names[0] for o in orders} <= {
            "shopify_payments",
            "paypal",
            "Cash on Delivery (COD)",
        }

    def test_cursor_pages_cover_every_customer_once(self, running: RunningSandbox) -> None:
        """The client follows the ``Link`` header's ``page_info`` cursors to the last page."""
        page = shopify.Customer.find(limit=25)
        seen = [c.id for c in page]
        while page.has_next_page():
            page = page.next_page()
            seen += [c.id for c in page]
        visible = [c.id for c in running.sandbox.shopify.visible()]
        assert seen == visible
        assert SHOP_ONLY.shopify_customer_id in seen

    def test_a_missing_customer_is_the_clients_not_found(self) -> None:
        """An unknown id is a 404 the client raises as ResourceNotFound."""
        with pytest.raises(shopify.base.pyactiveresource.connection.ResourceNotFound):
            shopify.Customer.find(1)
