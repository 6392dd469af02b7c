"""Contract tests of the Shopify emulator: REST, erasure, versions, scopes, rate limits."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox import JONAS, MARIA, SHOP_ONLY, Sandbox, ShopifyLimits
from sandbox.shopify_model import LineItem, Order
from tests.sandbox.conftest import SHOPIFY_HEADERS, FakeClock, client

pytestmark = pytest.mark.anyio

#: The emulator's date in these tests: 2026-01 to 2026-10 are supported, 2025-10 has ended.
TODAY = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
VERSION = "2026-10"
SHOP = f"/admin/api/{VERSION}"
LIMITED = "shpat_sandbox_recent_orders_only"
LINK = re.compile(r'<([^<]+)>; rel="([^"]+)"')
ERASE = (
    "mutation Erase($id: ID!) { customerRequestDataErasure(customerId: $id) "
    "{ customerId userErrors { field message code } } }"
)
CUSTOMER = (
    "query One($id: ID!) { customer(id: $id) { id tags "
    "defaultEmailAddress { emailAddress marketingState } } }"
)
ORDERS = (
    "query Orders($id: ID!) { customer(id: $id) { orders(first: 10) "
    "{ nodes { name createdAt } } } }"
)


def gid(customer_id: int | None) -> str:
    return f"gid://shopify/Customer/{customer_id}"


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """A small sandbox on the fake clock and a fixed date; one token sees recent orders only."""
    box = Sandbox.create(customers=120, async_delay=1.0, clock=clock, wall_clock=lambda: TODAY)
    box.shopify.grant(LIMITED, {"read_customers", "read_orders", "write_customers"})
    return box


@pytest.fixture
async def shopify(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the sandbox's Shopify emulator."""
    async with client(sandbox.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
        yield c


async def graphql(
    c: httpx.AsyncClient,
    query: str,
    *,
    path: str = SHOP,
    token: str | None = None,
    **variables: Any,
) -> dict[str, Any]:
    headers = {"X-Shopify-Access-Token": token} if token else None
    response = await c.post(
        f"{path}/graphql.json", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def search(c: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await c.get(f"{SHOP}/customers/search.json", params={"query": query})
    assert response.status_code == 200
    customers: list[dict[str, Any]] = response.json()["customers"]
    return customers


def recent_order(box: Sandbox, customer_id: int, days_ago: int) -> Order:
    """An order placed ``days_ago`` days before the emulator's date."""
    order = Order(
        id=5_900_000_000_001,
        number=9001,
        customer_id=customer_id,
        created_at=TODAY - timedelta(days=days_ago),
        currency="EUR",
        line_items=[LineItem(1, "Lip Care Duo", 1, Decimal("12.00"), "SKU-1", 1, 2)],
    )
    box.shopify.add_order(order)
    return order


class TestAuthentication:
    async def test_missing_or_wrong_token_is_refused_with_shopifys_401(
        self, sandbox: Sandbox
    ) -> None:
        """Without a token the shop accepts every route answers 401 and Shopify's error."""
        async with client(sandbox.shopify_app, "http://shop.test") as anonymous:
            missing = await anonymous.get(f"{SHOP}/customers.json")
            wrong = await anonymous.get(
                f"{SHOP}/customers.json", headers={"X-Shopify-Access-Token": "shpat_wrong"}
            )
        for response in (missing, wrong):
            assert response.status_code == 401
            assert response.json() == {
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong "
                "password)"
            }

    def test_a_scope_shopify_does_not_know_cannot_be_granted(self, sandbox: Sandbox) -> None:
        """Granting a made-up scope is a mistake in the test, refused with its name."""
        with pytest.raises(ValueError, match="read_everything"):
            sandbox.shopify.grant("shpat_x", {"read_customers", "read_everything"})


class TestVersions:
    async def test_a_supported_version_is_served_and_named(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """Every answer names the version that served it, REST and GraphQL alike."""
        rest = await shopify.get(f"/admin/api/2026-04/customers/{MARIA.shopify_customer_id}.json")
        gql = await shopify.post(
            "/admin/api/2026-07/graphql.json",
            json={"query": "{ customers(first: 1) { nodes { id } } }"},
        )
        assert rest.headers["X-Shopify-API-Version"] == "2026-04"
        assert gql.headers["X-Shopify-API-Version"] == "2026-07"

    async def test_an_unsupported_version_falls_forward_to_the_oldest_supported(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """2025-07 ended in 2026: Shopify answers with 2026-01 and says so in the header."""
        response = await shopify.post(
            "/admin/api/2025-07/graphql.json",
            json={"query": "{ customers(first: 1) { nodes { id } } }"},
        )
        assert response.status_code == 200
        assert response.headers["X-Shopify-API-Version"] == "2026-01"
        assert "data" in response.json()

    async def test_the_served_versions_schema_decides_what_is_valid(self, sandbox: Sandbox) -> None:
        """On 2027-02-01 2026-01 has ended: a request for it is validated against 2026-04."""
        later = Sandbox.create(customers=5, wall_clock=lambda: datetime(2027, 2, 1, tzinfo=UTC))
        async with client(later.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
            response = await c.post(
                "/admin/api/2026-01/graphql.json", json={"query": "{ shop { id } }"}
            )
        assert response.headers["X-Shopify-API-Version"] == "2026-04"

    async def test_a_path_without_a_version_is_not_found(self, shopify: httpx.AsyncClient) -> None:
        """``/admin/api/latest/...`` is not a version: Shopify's 404."""
        response = await shopify.get("/admin/api/latest/customers.json")
        assert (response.status_code, response.json()) == (404, {"errors": "Not Found"})


class TestScopes:
    async def test_rest_outside_the_tokens_scopes_is_403(self, sandbox: Sandbox) -> None:
        """A token with read_customers only: a customer's orders answer 403 naming the scope
        Shopify would ask the merchant to approve."""
        sandbox.shopify.grant("shpat_customers_only", {"read_customers"})
        async with client(sandbox.shopify_app, "http://shop.test") as c:
            response = await c.get(
                f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json",
                headers={"X-Shopify-Access-Token": "shpat_customers_only"},
            )
        assert response.status_code == 403
        assert response.json() == {
            "errors": "[API] This action requires merchant approval for read_orders scope."
        }

    async def test_graphql_outside_the_tokens_scopes_is_access_denied(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """An erasure without write_customer_data_erasure is ACCESS_DENIED and does nothing."""
        body = await graphql(shopify, ERASE, token=LIMITED, id=gid(MARIA.shopify_customer_id))
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "ACCESS_DENIED"
        assert "write_customer_data_erasure" in error["message"]
        assert error["path"] == ["customerRequestDataErasure"]
        assert sandbox.shopify.erasure_status(MARIA.shopify_customer_id or 0) == "none"

    async def test_the_installation_lists_the_tokens_scopes(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """``currentAppInstallation.accessScopes`` is what the token was granted."""
        query = "{ currentAppInstallation { accessScopes { handle } } }"
        body = await graphql(shopify, query, token=LIMITED)
        handles = {s["handle"] for s in body["data"]["currentAppInstallation"]["accessScopes"]}
        assert handles == {"read_customers", "read_orders", "write_customers"}


class TestOldOrders:
    async def test_orders_older_than_60_days_need_read_all_orders(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """Maria's 2024/2025 orders are old on the emulator's date: only read_all_orders sees
        them; an order from 10 days ago is visible to both tokens."""
        recent_order(sandbox, MARIA.shopify_customer_id or 0, days_ago=10)
        cid = gid(MARIA.shopify_customer_id)
        every = await graphql(shopify, ORDERS, id=cid)
        limited = await graphql(shopify, ORDERS, token=LIMITED, id=cid)
        assert len(every["data"]["customer"]["orders"]["nodes"]) == MARIA.shopify_orders + 1
        assert [o["name"] for o in limited["data"]["customer"]["orders"]["nodes"]] == ["#9001"]

    async def test_rest_orders_follow_the_same_rule(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """``customers/{id}/orders.json?status=any`` leaves old orders out without the scope."""
        recent_order(sandbox, MARIA.shopify_customer_id or 0, days_ago=59)
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json"
        every = await shopify.get(path, params={"status": "any"})
        limited = await shopify.get(
            path, params={"status": "any"}, headers={"X-Shopify-Access-Token": LIMITED}
        )
        assert len(every.json()["orders"]) == MARIA.shopify_orders + 1
        assert [o["name"] for o in limited.json()["orders"]] == ["#9001"]


class TestSearch:
    async def test_email_search_ignores_letter_case(self, shopify: httpx.AsyncClient) -> None:
        """Shopify stores Jonas's address in mixed case; a lower-case query finds him."""
        found = await search(shopify, f"email:{JONAS.email}")
        assert [c["id"] for c in found] == [JONAS.shopify_customer_id]
        assert found[0]["email"] == "Jonas.Beispiel@Example.com"

    async def test_phone_and_id_searches_find_the_customer(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """``phone:`` matches by digits whatever the formatting; ``id:`` by the numeric id."""
        by_phone = await search(shopify, 'phone:"+43 660 1234567"')
        by_id = await search(shopify, f"id:{MARIA.shopify_customer_id}")
        assert [c["id"] for c in by_phone] == [MARIA.shopify_customer_id]
        assert [c["id"] for c in by_id] == [MARIA.shopify_customer_id]

    async def test_customer_has_the_documented_shape(self, shopify: httpx.AsyncClient) -> None:
        """A found customer carries addresses, consent and the GraphQL id."""
        (maria,) = await search(shopify, f"email:{MARIA.email}")
        assert len(maria["addresses"]) == MARIA.shopify_addresses
        assert maria["default_address"]["city"] == "Wien"
        assert maria["orders_count"] == MARIA.shopify_orders
        assert maria["email_marketing_consent"]["state"] == "subscribed"
        assert maria["admin_graphql_api_id"] == gid(MARIA.shopify_customer_id)

    async def test_fields_parameter_limits_the_keys(self, shopify: httpx.AsyncClient) -> None:
        """``fields=id,email`` returns only those keys."""
        response = await shopify.get(
            f"{SHOP}/customers/search.json",
            params={"query": f"email:{MARIA.email}", "fields": "id,email"},
        )
        assert response.json()["customers"] == [
            {"id": MARIA.shopify_customer_id, "email": MARIA.email}
        ]


class TestPagination:
    async def test_link_header_pages_cover_every_customer_exactly_once(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """Following rel="next" from customers.json visits each customer once, in order."""
        seen: list[int] = []
        url: str | None = f"{SHOP}/customers.json?limit=17"
        while url:
            response = await shopify.get(url)
            assert response.status_code == 200
            seen += [c["id"] for c in response.json()["customers"]]
            links = {rel: target for target, rel in LINK.findall(response.headers.get("Link", ""))}
            url = links.get("next")
        assert seen == sorted(sandbox.shopify.customers)

    async def test_limit_above_250_is_rejected(self, shopify: httpx.AsyncClient) -> None:
        """``limit`` accepts 1 to 250."""
        response = await shopify.get(f"{SHOP}/customers.json", params={"limit": 251})
        assert response.status_code == 400

    async def test_graphql_customers_page_by_cursor(self, shopify: httpx.AsyncClient) -> None:
        """``customers(first:, after:)`` walks every customer once, like REST."""
        query = (
            "query Page($after: String) { customers(first: 50, after: $after) "
            "{ nodes { legacyResourceId } pageInfo { hasNextPage endCursor } } }"
        )
        seen: list[str] = []
        after = None
        while True:
            page = (await graphql(shopify, query, after=after))["data"]["customers"]
            seen += [n["legacyResourceId"] for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 123


class TestOrders:
    async def test_orders_default_to_open_and_status_any_returns_all(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """Like Shopify, REST returns only open orders unless ``status=any`` is asked for."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json"
        open_only = (await shopify.get(path)).json()["orders"]
        every = (await shopify.get(path, params={"status": "any"})).json()["orders"]
        assert len(open_only) == 1
        assert len(every) == MARIA.shopify_orders

    async def test_orders_carry_gateways_shipping_and_tracking(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """GraphQL orders hold amounts, payment gateways, shipping lines and tracking."""
        query = (
            "query O($id: ID!) { customer(id: $id) { orders(first: 5) { nodes { name "
            "totalPriceSet { shopMoney { amount currencyCode } } paymentGatewayNames "
            "shippingLines(first: 5) { nodes { title } } "
            "fulfillments(first: 5) { trackingInfo(first: 5) { company number } } } } } }"
        )
        body = await graphql(shopify, query, id=gid(MARIA.shopify_customer_id))
        first = body["data"]["customer"]["orders"]["nodes"][0]
        assert first["totalPriceSet"]["shopMoney"] == {"amount": "59.60", "currencyCode": "EUR"}
        assert first["paymentGatewayNames"] == ["paypal"]
        assert first["shippingLines"]["nodes"] == [{"title": "Standard"}]
        (tracking,) = first["fulfillments"][0]["trackingInfo"]
        assert tracking["number"].startswith("1Z")
        assert tracking["company"] == "DHL Express"


class TestWrites:
    async def test_put_with_an_invalid_email_is_422(self, shopify: httpx.AsyncClient) -> None:
        """A malformed e-mail is refused with 422 and nothing changes."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        response = await shopify.put(path, json={"customer": {"email": "not-an-address"}})
        assert response.status_code == 422
        assert response.json() == {"errors": {"email": ["is invalid"]}}

    async def test_customer_update_reports_a_taken_email_as_a_user_error(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """``customerUpdate`` answers Shopify's validation in ``userErrors``."""
        mutation = (
            "mutation U($input: CustomerInput!) { customerUpdate(input: $input) "
            "{ customer { id } userErrors { field message } } }"
        )
        body = await graphql(
            shopify, mutation, input={"id": gid(MARIA.shopify_customer_id), "email": JONAS.email}
        )
        assert body["data"]["customerUpdate"] == {
            "customer": None,
            "userErrors": [{"field": ["email"], "message": "Email has already been taken"}],
        }

    async def test_address_update_changes_the_address_in_place(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """``customerAddressUpdate`` changes the given fields of that address only."""
        customer = sandbox.shopify.get(MARIA.shopify_customer_id or 0)
        assert customer is not None
        address = customer.addresses[0]
        mutation = (
            "mutation A($customer: ID!, $a: ID!, $address: MailingAddressInput!) { "
            "customerAddressUpdate(customerId: $customer, addressId: $a, address: $address) "
            "{ address { city countryCodeV2 } userErrors { message } } }"
        )
        body = await graphql(
            shopify,
            mutation,
            customer=gid(customer.id),
            a=f"gid://shopify/MailingAddress/{address.id}?model_name=CustomerAddress",
            address={"city": "Linz"},
        )
        assert body["data"]["customerAddressUpdate"] == {
            "address": {"city": "Linz", "countryCodeV2": "AT"},
            "userErrors": [],
        }
        assert (address.city, address.address1) == ("Linz", "Mariahilfer Straße 1")


class TestRestWrites:
    async def test_put_rectifies_and_returns_the_full_customer(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """A valid PUT answers 200 with the changed customer and is counted once."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        body = {"customer": {"last_name": "Muster-Beispiel", "email": "maria.neu@example.com"}}
        response = await shopify.put(path, json=body)
        assert response.status_code == 200
        customer = response.json()["customer"]
        assert (customer["last_name"], customer["email"]) == (
            "Muster-Beispiel",
            "maria.neu@example.com",
        )
        assert sandbox.shopify.calls.effects("customer_updated", str(MARIA.shopify_customer_id))
        assert await search(shopify, f"email:{MARIA.email}") == []

    async def test_delete_of_a_customer_with_orders_is_422(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """Customers who ordered cannot be deleted, only erased."""
        response = await shopify.delete(f"{SHOP}/customers/{MARIA.shopify_customer_id}.json")
        assert response.status_code == 422
        assert "base" in response.json()["errors"]

    async def test_delete_of_a_customer_without_orders_removes_it(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """DELETE answers 200 ``{}``; afterwards the customer is 404 and a repeat is 404."""
        path = f"{SHOP}/customers/{SHOP_ONLY.shopify_customer_id}.json"
        first = await shopify.delete(path)
        assert (first.status_code, first.json()) == (200, {})
        assert (await shopify.get(path)).status_code == 404
        assert (await shopify.delete(path)).status_code == 404


class TestMarketingAndTags:
    async def test_consent_update_unsubscribes_and_the_rest_view_agrees(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """An inline ``input:`` with an enum literal sets the consent REST shows too."""
        mutation = (
            "mutation { customerEmailMarketingConsentUpdate(input: {customerId: "
            f'"{gid(MARIA.shopify_customer_id)}", '
            "emailMarketingConsent: {marketingState: UNSUBSCRIBED, marketingOptInLevel: "
            "SINGLE_OPT_IN}}) { customer { defaultEmailAddress { marketingState } } "
            "userErrors { field message } } }"
        )
        payload = (await graphql(shopify, mutation))["data"]["customerEmailMarketingConsentUpdate"]
        assert payload["userErrors"] == []
        assert payload["customer"]["defaultEmailAddress"]["marketingState"] == "UNSUBSCRIBED"
        (maria,) = await search(shopify, f"email:{MARIA.email}")
        assert maria["email_marketing_consent"]["state"] == "unsubscribed"

    async def test_consent_update_refuses_states_it_cannot_set(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """The mutation sets only SUBSCRIBED, UNSUBSCRIBED and PENDING (INCLUSION otherwise)."""
        mutation = (
            "mutation Consent($input: CustomerEmailMarketingConsentUpdateInput!) "
            "{ customerEmailMarketingConsentUpdate(input: $input) { userErrors { field code } } }"
        )
        consent = {"marketingState": "NOT_SUBSCRIBED"}
        given = {"customerId": gid(MARIA.shopify_customer_id), "emailMarketingConsent": consent}
        body = await graphql(shopify, mutation, input=given)
        errors = body["data"]["customerEmailMarketingConsentUpdate"]["userErrors"]
        field = ["input", "emailMarketingConsent", "marketingState"]
        assert errors == [{"field": field, "code": "INCLUSION"}]

    async def test_tags_add_and_remove_change_the_customers_tags(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """tagsAdd adds without duplicates; tagsRemove takes them away again."""
        add = (
            "mutation Add($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) "
            "{ node { id ... on Customer { tags } } userErrors { message } } }"
        )
        remove = (
            "mutation Rm($id: ID!, $tags: [String!]!) { tagsRemove(id: $id, tags: $tags) "
            "{ userErrors { message } } }"
        )
        customer = gid(MARIA.shopify_customer_id)
        await graphql(shopify, add, id=customer, tags=["dsar-restricted"])
        body = await graphql(shopify, add, id=customer, tags=["dsar-restricted", "vip"])
        assert body["data"]["tagsAdd"]["node"]["tags"] == ["dsar-restricted", "vip"]
        await graphql(shopify, remove, id=customer, tags=["dsar-restricted"])
        after = await graphql(shopify, CUSTOMER, id=customer)
        assert after["data"]["customer"]["tags"] == ["vip"]


class TestErasure:
    async def test_erasure_removes_the_person_after_the_delay_and_keeps_order_facts(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Accepted at once; after the delay the customer is gone and the orders keep number
        and totals but lose every personal field."""
        body = await graphql(shopify, ERASE, id=gid(MARIA.shopify_customer_id))
        payload = body["data"]["customerRequestDataErasure"]
        assert payload == {"customerId": gid(MARIA.shopify_customer_id), "userErrors": []}
        assert await search(shopify, f"email:{MARIA.email}") != []
        clock.advance(1.0)
        assert await search(shopify, f"email:{MARIA.email}") == []
        after = await graphql(shopify, CUSTOMER, id=gid(MARIA.shopify_customer_id))
        assert after["data"]["customer"] is None
        for order in sandbox.shopify.orders_of(MARIA.shopify_customer_id or 0, status="any"):
            json = sandbox.shopify.order_json(order)
            assert json["total_price"] != "0.00"
            assert (json["email"], json["phone"], json["customer"]) == (None, None, None)

    async def test_repeated_erasure_requests_are_idempotent(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """A second request while pending makes no second job; afterwards DOES_NOT_EXIST."""
        customer = gid(JONAS.shopify_customer_id)
        for _ in range(2):
            body = await graphql(shopify, ERASE, id=customer)
            assert body["data"]["customerRequestDataErasure"]["userErrors"] == []
        assert sandbox.shopify.jobs.pending == 1
        assert sandbox.shopify.calls.effects("erasure_requested") == 1
        clock.advance(1.0)
        after = await graphql(shopify, ERASE, id=customer)
        (error,) = after["data"]["customerRequestDataErasure"]["userErrors"]
        assert error["code"] == "DOES_NOT_EXIST"

    async def test_cancelled_erasure_leaves_the_customer_in_place(
        self, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Cancelling a pending erasure stops it; cancelling again is NOT_BEING_ERASED."""
        cancel = (
            "mutation C($id: ID!) { customerCancelDataErasure(customerId: $id) "
            "{ customerId userErrors { code } } }"
        )
        customer = gid(MARIA.shopify_customer_id)
        await graphql(shopify, ERASE, id=customer)
        first = await graphql(shopify, cancel, id=customer)
        assert first["data"]["customerCancelDataErasure"]["userErrors"] == []
        clock.advance(2.0)
        assert await search(shopify, f"email:{MARIA.email}") != []
        again = await graphql(shopify, cancel, id=customer)
        codes = [e["code"] for e in again["data"]["customerCancelDataErasure"]["userErrors"]]
        assert codes == ["NOT_BEING_ERASED"]


class TestSandboxEndpoints:
    async def test_pending_erasure_is_visible_at_the_sandbox_endpoint(
        self, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """``/_sandbox/erasures/{id}`` moves from none to pending to completed."""
        path = f"/_sandbox/erasures/{MARIA.shopify_customer_id}"
        states = [(await shopify.get(path)).json()["status"]]
        await graphql(shopify, ERASE, id=gid(MARIA.shopify_customer_id))
        states.append((await shopify.get(path)).json()["status"])
        clock.advance(1.0)
        states.append((await shopify.get(path)).json()["status"])
        assert states == ["none", "pending", "completed"]


class TestRateLimits:
    async def test_the_rest_bucket_leaks_two_requests_per_second(
        self, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """One second after filling the bucket, exactly two more requests fit."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        for _ in range(40):
            await shopify.get(path)
        clock.advance(1.0)
        statuses = [(await shopify.get(path)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]

    async def test_time_scale_compresses_leaking_retry_after_and_jobs(
        self, clock: FakeClock
    ) -> None:
        """With ``time_scale=0.01`` a nominal second lasts 10 ms: Retry-After shrinks and
        erasures complete a hundred times faster."""
        box = Sandbox.create(
            customers=5, clock=clock, time_scale=0.01, async_delay=1.0, wall_clock=lambda: TODAY
        )
        path = f"{SHOP}/customers/{SHOP_ONLY.shopify_customer_id}.json"
        async with client(box.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
            for _ in range(40):
                await c.get(path)
            refused = await c.get(path)
            await graphql(c, ERASE, id=gid(SHOP_ONLY.shopify_customer_id))
            clock.advance(0.01)
            after = await c.get(path)
        assert refused.headers["Retry-After"] == "0.005"
        assert after.status_code == 404

    async def test_the_41st_rest_request_in_a_burst_gets_429_with_retry_after(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """The call-limit header counts 1/40 to 40/40, then the bucket overflows."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        counts = [
            (await shopify.get(path)).headers["X-Shopify-Shop-Api-Call-Limit"] for _ in range(40)
        ]
        refused = await shopify.get(path)
        assert counts == [f"{n}/40" for n in range(1, 41)]
        assert refused.status_code == 429
        assert float(refused.headers["Retry-After"]) == pytest.approx(0.5)

    async def test_a_query_is_charged_its_actual_cost(self, shopify: httpx.AsyncClient) -> None:
        """Asked for 10 orders and given 3, Maria's query is charged for 3: the requested
        points beyond that go back to the bucket."""
        body = await graphql(shopify, ORDERS, id=gid(MARIA.shopify_customer_id))
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] == 1 + 2 + 10
        assert cost["actualQueryCost"] == 1 + 2 + MARIA.shopify_orders
        assert cost["throttleStatus"] == {
            "maximumAvailable": 2000.0,
            "currentlyAvailable": 2000.0 - cost["actualQueryCost"],
            "restoreRate": 100.0,
        }

    async def test_graphql_spends_cost_points_and_reports_throttled(self, clock: FakeClock) -> None:
        """With 25 points, two mutations of 10 fit and the third is THROTTLED (HTTP 200)."""
        box = Sandbox.create(
            customers=10,
            clock=clock,
            wall_clock=lambda: TODAY,
            shopify_limits=ShopifyLimits(graphql_capacity=25),
        )
        async with client(box.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
            results = [
                await graphql(c, ERASE, id=gid(SHOP_ONLY.shopify_customer_id)) for _ in range(3)
            ]
        assert "data" in results[0]
        assert "data" in results[1]
        assert results[2]["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert results[2]["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 5
        assert box.shopify.calls.throttled == 1

    async def test_a_query_over_the_single_query_limit_is_refused(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """Requested cost above 1,000 is MAX_COST_EXCEEDED, whatever the bucket holds."""
        query = "{ customers(first: 250) { nodes { orders(first: 250) { nodes { id } } } } }"
        body = await graphql(shopify, query)
        (error,) = body["errors"]
        assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
        assert "data" not in body
