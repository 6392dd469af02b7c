"""Contract tests of the Shopify emulator against processor-apis.md."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from sandbox import JONAS, MARIA, SHOP_ONLY, Sandbox, ShopifyLimits
from tests.sandbox.conftest import SHOP, SHOPIFY_HEADERS, FakeClock, client

pytestmark = pytest.mark.anyio

LINK = re.compile(r'<([^<]+)>; rel="([^"]+)"')
ERASE = (
    "mutation Erase($id: ID!) { customerRequestDataErasure(customerId: $id) "
    "{ customerId userErrors { field message code } } }"
)
CUSTOMER = (
    "query One($id: ID!) { customer(id: $id) { id email tags "
    "emailMarketingConsent { marketingState } } }"
)


def gid(customer_id: int | None) -> str:
    return f"gid://shopify/Customer/{customer_id}"


async def graphql(c: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await c.post(f"{SHOP}/graphql.json", json={"query": query, "variables": variables})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def search(c: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    response = await c.get(f"{SHOP}/customers/search.json", params={"query": query})
    assert response.status_code == 200
    customers: list[dict[str, Any]] = response.json()["customers"]
    return customers


class TestAuthentication:
    async def test_missing_or_wrong_token_is_refused_with_shopifys_401(
        self, sandbox: Sandbox
    ) -> None:
        """Without the right X-Shopify-Access-Token every route answers 401 and the error."""
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

    async def test_unknown_address_finds_nobody(self, shopify: httpx.AsyncClient) -> None:
        """A search without match answers 200 with an empty list, not 404."""
        assert await search(shopify, "email:nobody@example.com") == []

    async def test_customer_has_the_documented_shape(self, shopify: httpx.AsyncClient) -> None:
        """A found customer carries addresses, consent and the GraphQL id."""
        (maria,) = await search(shopify, f"email:{MARIA.email}")
        assert len(maria["addresses"]) == MARIA.shopify_addresses
        assert maria["default_address"]["city"] == "Wien"
        assert maria["orders_count"] == MARIA.shopify_orders
        assert maria["email_marketing_consent"]["state"] == "subscribed"
        assert maria["admin_graphql_api_id"] == gid(MARIA.shopify_customer_id)
        assert {"first_name", "last_name", "phone", "tags", "total_spent"} <= maria.keys()

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

    async def test_previous_link_leads_back_to_the_first_page(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """The second page links rel="previous" to exactly the first page."""
        first = await shopify.get(f"{SHOP}/customers.json", params={"limit": 5})
        (next_url,) = [t for t, rel in LINK.findall(first.headers["Link"]) if rel == "next"]
        second = await shopify.get(next_url)
        links = {rel: target for target, rel in LINK.findall(second.headers["Link"])}
        back = await shopify.get(links["previous"])
        assert back.json()["customers"] == first.json()["customers"]

    async def test_limit_above_250_is_rejected(self, shopify: httpx.AsyncClient) -> None:
        """``limit`` accepts 1 to 250."""
        response = await shopify.get(f"{SHOP}/customers.json", params={"limit": 251})
        assert response.status_code == 400

    async def test_default_page_holds_fifty_customers(self, shopify: httpx.AsyncClient) -> None:
        """Without ``limit`` a page has 50 customers."""
        response = await shopify.get(f"{SHOP}/customers.json")
        assert len(response.json()["customers"]) == 50


class TestOrders:
    async def test_orders_default_to_open_and_status_any_returns_all(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """Like Shopify, only open orders come back unless ``status=any`` is asked for."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json"
        open_only = (await shopify.get(path)).json()["orders"]
        every = (await shopify.get(path, params={"status": "any"})).json()["orders"]
        assert len(open_only) == 1
        assert len(every) == MARIA.shopify_orders

    async def test_orders_carry_the_documented_personal_fields(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """An order holds e-mail, phone, browser IP, client details and both addresses."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json"
        order = (await shopify.get(path, params={"status": "any"})).json()["orders"][0]
        assert order["email"] == MARIA.email
        assert order["phone"] == MARIA.phone
        assert order["browser_ip"] == order["client_details"]["browser_ip"]
        assert order["billing_address"]["last_name"] == "Muster"
        assert order["shipping_address"]["city"] == "Wien"
        assert order["customer"]["id"] == MARIA.shopify_customer_id

    async def test_orders_paginate_with_link_headers(self, shopify: httpx.AsyncClient) -> None:
        """With limit=2, Maria's three orders span two pages and appear once each."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}/orders.json"
        first = await shopify.get(path, params={"status": "any", "limit": 2})
        (next_url,) = [t for t, rel in LINK.findall(first.headers["Link"]) if rel == "next"]
        second = await shopify.get(next_url)
        ids = [o["id"] for o in first.json()["orders"] + second.json()["orders"]]
        assert len(ids) == len(set(ids)) == MARIA.shopify_orders


class TestWrites:
    async def test_unknown_customer_is_404(self, shopify: httpx.AsyncClient) -> None:
        """An unknown id answers 404 with ``{"errors": "Not Found"}``."""
        response = await shopify.get(f"{SHOP}/customers/1.json")
        assert response.status_code == 404
        assert response.json() == {"errors": "Not Found"}

    async def test_put_with_an_invalid_email_is_422(self, shopify: httpx.AsyncClient) -> None:
        """A malformed e-mail is refused with 422 and nothing changes."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        response = await shopify.put(path, json={"customer": {"email": "not-an-address"}})
        assert response.status_code == 422
        assert response.json() == {"errors": {"email": ["is invalid"]}}
        assert (await shopify.get(path)).json()["customer"]["email"] == MARIA.email

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


class TestErasure:
    async def test_erasure_removes_the_person_after_the_delay_and_keeps_order_facts(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """The request is accepted at once; after the delay the customer is gone and the
        orders keep number and totals but lose every personal field."""
        body = await graphql(shopify, ERASE, id=gid(MARIA.shopify_customer_id))
        payload = body["data"]["customerRequestDataErasure"]
        assert payload == {"customerId": gid(MARIA.shopify_customer_id), "userErrors": []}
        assert await search(shopify, f"email:{MARIA.email}") != []
        clock.advance(1.0)
        assert await search(shopify, f"email:{MARIA.email}") == []
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        assert (await shopify.get(path)).status_code == 404
        orders = sandbox.shopify.orders_of(MARIA.shopify_customer_id or 0, status="any")
        assert len(orders) == MARIA.shopify_orders
        for order in orders:
            json = sandbox.shopify.order_json(order)
            assert json["total_price"] != "0.00"
            assert json["line_items"]
            assert (json["email"], json["phone"], json["browser_ip"], json["customer"]) == (
                None,
                None,
                None,
                None,
            )
            assert json["billing_address"]["last_name"] is None
            assert json["billing_address"]["country_code"] == "AT"

    async def test_repeated_erasure_requests_are_idempotent(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """A second request while pending succeeds without a second job; after completion the
        customer no longer exists."""
        customer = gid(JONAS.shopify_customer_id)
        for _ in range(2):
            body = await graphql(shopify, ERASE, id=customer)
            assert body["data"]["customerRequestDataErasure"]["userErrors"] == []
        assert sandbox.shopify.jobs.pending == 1
        assert (
            sandbox.shopify.calls.effects("erasure_requested", str(JONAS.shopify_customer_id)) == 1
        )
        clock.advance(1.0)
        after = await graphql(shopify, ERASE, id=customer)
        (error,) = after["data"]["customerRequestDataErasure"]["userErrors"]
        assert error["code"] == "DOES_NOT_EXIST"
        assert sandbox.shopify.erasure_status(JONAS.shopify_customer_id or 0) == "completed"

    async def test_erasure_of_an_unknown_customer_reports_does_not_exist(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """An id Shopify does not know gives a DOES_NOT_EXIST user error."""
        body = await graphql(shopify, ERASE, id=gid(42))
        payload = body["data"]["customerRequestDataErasure"]
        assert payload["customerId"] is None
        assert [e["code"] for e in payload["userErrors"]] == ["DOES_NOT_EXIST"]

    async def test_cancelled_erasure_leaves_the_customer_in_place(
        self, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """Cancelling a pending erasure stops it; cancelling again is NOT_BEING_ERASED."""
        customer = gid(MARIA.shopify_customer_id)
        cancel = (
            'mutation { customerCancelDataErasure(customerId: "' + customer + '") '
            "{ customerId userErrors { code } } }"
        )
        await graphql(shopify, ERASE, id=customer)
        first = await graphql(shopify, cancel)
        assert first["data"]["customerCancelDataErasure"] == {
            "customerId": customer,
            "userErrors": [],
        }
        clock.advance(2.0)
        assert await search(shopify, f"email:{MARIA.email}") != []
        again = await graphql(shopify, cancel)
        codes = [e["code"] for e in again["data"]["customerCancelDataErasure"]["userErrors"]]
        assert codes == ["NOT_BEING_ERASED"]

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


class TestGraphQL:
    async def test_customer_query_reads_email_tags_and_consent(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """``customer(id:)`` returns the requested fields, and only those."""
        body = await graphql(shopify, CUSTOMER, id=gid(MARIA.shopify_customer_id))
        assert body["data"]["customer"] == {
            "id": gid(MARIA.shopify_customer_id),
            "email": MARIA.email,
            "tags": [],
            "emailMarketingConsent": {"marketingState": "SUBSCRIBED"},
        }
        cost = body["extensions"]["cost"]
        assert cost["requestedQueryCost"] >= 1
        assert set(cost["throttleStatus"]) == {
            "maximumAvailable",
            "currentlyAvailable",
            "restoreRate",
        }

    async def test_consent_update_with_inline_arguments_unsubscribes(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """An inline ``input:`` object with an enum literal sets the REST consent too."""
        mutation = (
            "mutation { customerEmailMarketingConsentUpdate(input: {customerId: "
            f'"{gid(MARIA.shopify_customer_id)}", '
            "emailMarketingConsent: {marketingState: UNSUBSCRIBED, marketingOptInLevel: "
            "SINGLE_OPT_IN}}) { customer { emailMarketingConsent { marketingState } } "
            "userErrors { field message } } }"
        )
        body = await graphql(shopify, mutation)
        payload = body["data"]["customerEmailMarketingConsentUpdate"]
        assert payload["userErrors"] == []
        assert payload["customer"]["emailMarketingConsent"]["marketingState"] == "UNSUBSCRIBED"
        (maria,) = await search(shopify, f"email:{MARIA.email}")
        assert maria["email_marketing_consent"]["state"] == "unsubscribed"

    async def test_consent_update_refuses_states_outside_the_input_enum(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """The input accepts only SUBSCRIBED, UNSUBSCRIBED and PENDING."""
        mutation = (
            "mutation Consent($input: CustomerEmailMarketingConsentUpdateInput!) "
            "{ customerEmailMarketingConsentUpdate(input: $input) { userErrors { field } } }"
        )
        body = await graphql(
            shopify,
            mutation,
            input={
                "customerId": gid(MARIA.shopify_customer_id),
                "emailMarketingConsent": {"marketingState": "NOT_SUBSCRIBED"},
            },
        )
        errors = body["data"]["customerEmailMarketingConsentUpdate"]["userErrors"]
        assert errors == [{"field": ["input", "emailMarketingConsent", "marketingState"]}]

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

    async def test_unknown_operation_is_an_error_with_200_and_no_effect(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """A mutation outside the schema answers 200 ``{"errors": [...]}``; nothing runs,
        not even the valid field next to it."""
        body = await graphql(
            shopify,
            "mutation { customerRequestDataErasure(customerId: "
            f'"{gid(MARIA.shopify_customer_id)}") '
            "{ customerId } "
            'customerDelete(input: {id: "x"}) { deletedCustomerId } }',
        )
        assert "data" not in body
        assert "customerDelete" in body["errors"][0]["message"]
        assert sandbox.shopify.erasure_status(MARIA.shopify_customer_id or 0) == "none"

    async def test_syntax_errors_are_reported_with_their_position(
        self, shopify: httpx.AsyncClient
    ) -> None:
        """A document that does not parse answers 200 with an error and a location."""
        body = await graphql(shopify, "query { customer(id: ) { id } }")
        (error,) = body["errors"]
        assert error["locations"] == [{"line": 1, "column": 22}]

    async def test_a_body_without_query_is_400(self, shopify: httpx.AsyncClient) -> None:
        """The query parameter is required."""
        response = await shopify.post(f"{SHOP}/graphql.json", json={"variables": {}})
        assert response.status_code == 400

    async def test_customers_connection_pages_by_cursor(self, shopify: httpx.AsyncClient) -> None:
        """``customers(first:, after:)`` walks the same customers as REST, once each."""
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


class TestRateLimits:
    async def test_the_41st_request_in_a_burst_gets_429_with_retry_after(
        self, sandbox: Sandbox, shopify: httpx.AsyncClient
    ) -> None:
        """The call-limit header counts 1/40 to 40/40, then the bucket overflows."""
        counts = []
        for _ in range(40):
            response = await shopify.get(f"{SHOP}/customers/{MARIA.shopify_customer_id}.json")
            counts.append(response.headers["X-Shopify-Shop-Api-Call-Limit"])
        refused = await shopify.get(f"{SHOP}/customers/{MARIA.shopify_customer_id}.json")
        assert counts == [f"{n}/40" for n in range(1, 41)]
        assert refused.status_code == 429
        assert float(refused.headers["Retry-After"]) == pytest.approx(0.5)
        assert refused.json()["errors"].startswith("Exceeded 2 calls per second")
        calls = sandbox.shopify.calls
        assert calls.throttled == 1
        assert calls.count("GET", "/admin/api/{version}/customers/{customer_id}.json") == 41
        assert calls.statuses[429] == 1

    async def test_time_scale_compresses_leaking_retry_after_and_jobs(
        self, clock: FakeClock
    ) -> None:
        """With ``time_scale=0.01`` a nominal second lasts 10 ms: Retry-After shrinks, the
        bucket leaks and erasures complete a hundred times faster."""
        box = Sandbox.create(customers=5, clock=clock, time_scale=0.01, async_delay=1.0)
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

    async def test_the_bucket_leaks_two_requests_per_second(
        self, shopify: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """One second after filling the bucket, exactly two more requests fit."""
        path = f"{SHOP}/customers/{MARIA.shopify_customer_id}.json"
        for _ in range(40):
            await shopify.get(path)
        clock.advance(1.0)
        statuses = [(await shopify.get(path)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]

    async def test_graphql_spends_cost_points_and_reports_throttled(self, clock: FakeClock) -> None:
        """With 25 points, two queries of 10+ fit and the third is Throttled (HTTP 200)."""
        box = Sandbox.create(
            customers=10, clock=clock, shopify_limits=ShopifyLimits(graphql_capacity=25)
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
