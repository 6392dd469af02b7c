"""Shopify connector: request shapes, pagination, erasure job, restriction, errors (respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from connectors.base import Capability, Changes, Subject
from connectors.errors import (
    AuthError,
    ProtocolError,
    TransientError,
    Unsupported,
    ValidationFailed,
)
from connectors.http import RetryPolicy
from connectors.ratelimit import Unlimited
from connectors.shopify import RESTRICTED_TAG, ShopifyConnector
from tests.connectors.fakes import FakeTime

pytestmark = pytest.mark.anyio

BASE = "https://lunexxa.myshopify.test"
API = f"{BASE}/admin/api/2025-07"
TOKEN = "shpat_unit_test_token"
EMAIL = "maria.muster@example.com"
SUBJECT = Subject(emails=(EMAIL,))


def customer(**overrides: Any) -> dict[str, Any]:
    """A customer as Shopify's search returns it."""
    data: dict[str, Any] = {
        "id": 207119551,
        "email": EMAIL,
        "first_name": "Maria",
        "last_name": "Muster",
        "phone": "+4917012345678",
        "tags": "vip",
        "orders_count": 3,
        "admin_graphql_api_id": "gid://shopify/Customer/207119551",
        "addresses": [
            {"id": 1, "address1": "Hauptstr. 1", "city": "Berlin", "default": True},
            {"id": 2, "address1": "Nebenweg 2", "city": "Hamburg", "default": False},
        ],
        "default_address": {"id": 1, "address1": "Hauptstr. 1", "city": "Berlin", "default": True},
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in"},
        "sms_marketing_consent": None,
    }
    data.update(overrides)
    return data


@pytest.fixture
def shopify(transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> ShopifyConnector:
    return ShopifyConnector(BASE, TOKEN, transport=transport, rate=Unlimited(), retry=policy)


def search_returns(router: respx.Router, *customers: dict[str, Any]) -> respx.Route:
    return router.get(f"{API}/customers/search.json").mock(
        return_value=httpx.Response(200, json={"customers": list(customers)})
    )


def graphql_ok(field: str, **payload: Any) -> httpx.Response:
    return httpx.Response(200, json={"data": {field: {"userErrors": [], **payload}}})


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


class TestLocate:
    async def test_searches_by_email_with_the_token(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Locate sends GET customers/search.json?query=email:<address> with the access token."""
        route = search_returns(router, customer())
        located = await shopify.locate(SUBJECT)
        assert located.found
        assert located.refs == ("customer:207119551",)
        request = route.calls.last.request
        assert request.method == "GET"
        assert request.url.params["query"] == f"email:{EMAIL}"
        assert request.headers["X-Shopify-Access-Token"] == TOKEN

    async def test_empty_search_is_not_found(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """No customers in the answer means the person is not in the shop."""
        search_returns(router)
        assert not (await shopify.locate(SUBJECT)).found

    async def test_fuzzy_search_hits_are_ignored(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Shopify's search matches loosely; only the exact address (any case) counts."""
        search_returns(
            router,
            customer(email="maria.muster@example.com.au"),
            customer(id=9, email=EMAIL.upper()),
        )
        assert (await shopify.locate(SUBJECT)).refs == ("customer:9",)

    async def test_customer_id_is_fetched_directly(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A known Shopify id is looked up by GET customers/{id}.json; 404 means absent."""
        router.get(f"{API}/customers/55.json").mock(
            return_value=httpx.Response(404, json={"errors": "Not Found"})
        )
        located = await shopify.locate(Subject(customer_ids={"shopify": "55"}))
        assert not located.found

    async def test_phone_search_matches_digits(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A phone is searched in E.164 form (query=phone:+49...) and matched by digits."""
        route = search_returns(router, customer())
        located = await shopify.locate(Subject(phones=("+49 170 12345678",)))
        assert located.found
        assert route.calls.last.request.url.params["query"] == "phone:+4917012345678"


class TestExport:
    async def test_exports_account_addresses_orders_and_consent(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Orders are followed across three Link-header pages; every item is one record."""
        search_returns(router, customer())
        page2 = f"{API}/customers/207119551/orders.json?limit=250&page_info=p2"
        page3 = f"{API}/customers/207119551/orders.json?limit=250&page_info=p3"
        orders = router.get(f"{API}/customers/207119551/orders.json")
        orders.side_effect = [
            httpx.Response(
                200,
                json={"orders": [{"id": 1}, {"id": 2}]},
                headers={"Link": f'<{page2}>; rel="next"'},
            ),
            httpx.Response(
                200,
                json={"orders": [{"id": 3}]},
                headers={"Link": f'<{API}/x>; rel="previous", <{page3}>; rel="next"'},
            ),
            httpx.Response(
                200, json={"orders": [{"id": 4}]}, headers={"Link": f'<{page2}>; rel="previous"'}
            ),
        ]
        data = await shopify.export(SUBJECT)
        grouped = data.by_category()
        assert [o["id"] for o in grouped["orders"]] == [1, 2, 3, 4]
        assert len(grouped["addresses"]) == 2
        assert grouped["customer_account"][0]["email"] == EMAIL
        assert "addresses" not in grouped["customer_account"][0]
        assert grouped["marketing_consent"][0]["email_marketing_consent"]["state"] == "subscribed"
        first = orders.calls[0].request.url.params
        assert (first["status"], first["limit"]) == ("any", "250")
        assert orders.calls[1].request.url.params["page_info"] == "p2"
        assert orders.calls[2].request.url.params["page_info"] == "p3"

    async def test_nobody_exports_nothing(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A person not in the shop gets an empty, not failed, export."""
        search_returns(router)
        assert (await shopify.export(SUBJECT)).records == ()


class TestRectify:
    async def test_puts_only_changed_fields(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """PUT customers/{id}.json carries exactly the fields whose value differs."""
        search_returns(router, customer())
        put = router.put(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(200, json={})
        )
        changes: Changes = {"last_name": "Muster-Beispiel", "first_name": "Maria"}
        outcome = await shopify.rectify(SUBJECT, changes)
        assert bodies(put) == [{"customer": {"id": 207119551, "last_name": "Muster-Beispiel"}}]
        assert (outcome.complete, outcome.count, outcome.action) == (True, 1, Capability.RECTIFY)
        assert "Muster-Beispiel" not in outcome.note

    async def test_repeat_sends_nothing(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """When the values are already right, nothing is written and the count is 0."""
        search_returns(router, customer(last_name="Muster-Beispiel"))
        put = router.put(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(200, json={})
        )
        outcome = await shopify.rectify(SUBJECT, {"last_name": "Muster-Beispiel"})
        assert put.call_count == 0
        assert outcome.count == 0

    async def test_address_goes_to_the_default_address(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Address fields update the default address in place, inside the customer PUT."""
        search_returns(router, customer())
        put = router.put(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(200, json={})
        )
        outcome = await shopify.rectify(SUBJECT, {"city": "München", "address1": "Hauptstr. 1"})
        assert bodies(put) == [
            {"customer": {"id": 207119551, "addresses": [{"id": 1, "city": "München"}]}}
        ]
        assert outcome.note == "changed ['city']"

    async def test_validation_error_names_no_email(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A 422 becomes ValidationFailed whose message does not repeat the address."""
        search_returns(router, customer())
        router.put(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(
                422, json={"errors": {"email": ["new.maria@example.com is invalid"]}}
            )
        )
        with pytest.raises(ValidationFailed) as info:
            await shopify.rectify(SUBJECT, {"email": "new.maria@example.com"})
        assert "@" not in str(info.value)
        assert info.value.status == 422

    async def test_unknown_field_is_unsupported(self, shopify: ShopifyConnector) -> None:
        """A field Shopify cannot hold is refused, not silently dropped."""
        bad: Any = {"birthday": "1990-01-01"}
        with pytest.raises(Unsupported):
            await shopify.rectify(SUBJECT, bad)


class TestErase:
    async def test_requests_data_erasure_via_graphql(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Erase calls customerRequestDataErasure with the customer's gid: a pending job."""
        search_returns(router, customer())
        gql = router.post(f"{API}/graphql.json").mock(
            return_value=graphql_ok(
                "customerRequestDataErasure", customerId="gid://shopify/Customer/207119551"
            )
        )
        delete = router.delete(f"{API}/customers/207119551.json")
        outcome = await shopify.erase(SUBJECT)
        body = bodies(gql)[0]
        assert "customerRequestDataErasure" in body["query"]
        assert body["variables"] == {"customerId": "gid://shopify/Customer/207119551"}
        assert delete.call_count == 0
        assert (outcome.complete, outcome.count, outcome.job_ref) == (
            False,
            1,
            "shopify-erasure:207119551",
        )

    async def test_nothing_to_erase_is_complete(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A person not in the shop is erased already: complete, count 0, with a note."""
        search_returns(router)
        outcome = await shopify.erase(SUBJECT)
        assert (outcome.complete, outcome.count, outcome.job_ref) == (True, 0, None)
        assert outcome.note

    async def test_does_not_exist_counts_as_erased(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """userError DOES_NOT_EXIST means the customer is gone: complete, count 0."""
        search_returns(router, customer())
        router.post(f"{API}/graphql.json").mock(
            return_value=httpx.Response(
                200,
                json={
                    "data": {
                        "customerRequestDataErasure": {
                            "customerId": None,
                            "userErrors": [
                                {
                                    "field": ["customerId"],
                                    "message": "gone",
                                    "code": "DOES_NOT_EXIST",
                                }
                            ],
                        }
                    }
                },
            )
        )
        outcome = await shopify.erase(SUBJECT)
        assert (outcome.complete, outcome.count) == (True, 0)

    async def test_failed_request_raises(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Other userErrors (FAILED_TO_REQUEST) raise ValidationFailed."""
        search_returns(router, customer())
        router.post(f"{API}/graphql.json").mock(
            return_value=httpx.Response(
                200,
                json={
                    "data": {
                        "customerRequestDataErasure": {
                            "customerId": None,
                            "userErrors": [
                                {"field": None, "message": "nope", "code": "FAILED_TO_REQUEST"}
                            ],
                        }
                    }
                },
            )
        )
        with pytest.raises(ValidationFailed, match="FAILED_TO_REQUEST"):
            await shopify.erase(SUBJECT)

    async def test_status_complete_when_customer_gone(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """The erasure job is complete once the customer answers 404."""
        router.get(f"{API}/customers/207119551.json").mock(return_value=httpx.Response(404))
        status = await shopify.status("shopify-erasure:207119551")
        assert status.complete

    async def test_status_complete_when_customer_redacted(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A customer kept without name or contact data has been redacted: complete."""
        redacted = customer(email=None, phone=None, first_name=None, last_name=None)
        router.get(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(200, json={"customer": redacted})
        )
        assert (await shopify.status("shopify-erasure:207119551")).complete

    async def test_status_pending_while_customer_exists(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """The job is pending while the customer still has contact data."""
        router.get(f"{API}/customers/207119551.json").mock(
            return_value=httpx.Response(200, json={"customer": customer()})
        )
        assert not (await shopify.status("shopify-erasure:207119551")).complete

    async def test_foreign_job_ref_is_unsupported(self, shopify: ShopifyConnector) -> None:
        """A job reference from another connector is refused."""
        with pytest.raises(Unsupported):
            await shopify.status("klaviyo-deletion:01ABC")


class TestRestriction:
    async def test_restrict_unsubscribes_and_tags(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Restrict sets marketing to UNSUBSCRIBED and adds the dsar-restricted tag."""
        search_returns(router, customer())
        gql = router.post(f"{API}/graphql.json").mock(
            side_effect=[graphql_ok("customerEmailMarketingConsentUpdate"), graphql_ok("tagsAdd")]
        )
        outcome = await shopify.restrict(SUBJECT)
        consent, tags = bodies(gql)
        assert consent["variables"]["input"]["customerId"] == "gid://shopify/Customer/207119551"
        assert (
            consent["variables"]["input"]["emailMarketingConsent"]["marketingState"]
            == "UNSUBSCRIBED"
        )
        assert "tagsAdd" in tags["query"]
        assert tags["variables"] == {
            "id": "gid://shopify/Customer/207119551",
            "tags": [RESTRICTED_TAG],
        }
        assert (outcome.complete, outcome.count) == (True, 1)

    async def test_restrict_twice_has_no_second_side_effect(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """An unsubscribed, tagged customer gets no mutation at all."""
        search_returns(
            router,
            customer(
                tags=f"vip, {RESTRICTED_TAG}", email_marketing_consent={"state": "unsubscribed"}
            ),
        )
        gql = router.post(f"{API}/graphql.json")
        outcome = await shopify.restrict(SUBJECT)
        assert gql.call_count == 0
        assert outcome.count == 0

    async def test_lift_removes_tag_and_never_resubscribes(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Lifting removes the tag only; marketing consent is not touched (Art. 7)."""
        search_returns(
            router,
            customer(
                tags=f"vip, {RESTRICTED_TAG}", email_marketing_consent={"state": "unsubscribed"}
            ),
        )
        gql = router.post(f"{API}/graphql.json").mock(return_value=graphql_ok("tagsRemove"))
        outcome = await shopify.lift_restriction(SUBJECT)
        (only,) = bodies(gql)
        assert "tagsRemove" in only["query"]
        assert "MarketingConsent" not in only["query"]
        assert outcome.count == 1


class TestErrors:
    async def test_throttled_graphql_is_retried_after_restore_time(
        self, router: respx.Router, shopify: ShopifyConnector, fake_time: FakeTime
    ) -> None:
        """THROTTLED waits until the query's cost is restored, then succeeds."""
        throttled = httpx.Response(
            200,
            json={
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": 10,
                        "throttleStatus": {
                            "maximumAvailable": 1000,
                            "currentlyAvailable": 0,
                            "restoreRate": 50,
                        },
                    }
                },
            },
        )
        search_returns(router, customer(tags=RESTRICTED_TAG))
        gql = router.post(f"{API}/graphql.json").mock(
            side_effect=[throttled, graphql_ok("customerEmailMarketingConsentUpdate")]
        )
        await shopify.restrict(SUBJECT)
        assert gql.call_count == 2
        assert fake_time.sleeps == [pytest.approx(0.2)]

    async def test_401_is_auth_error_without_token(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A bad token raises AuthError; the message never repeats the token."""
        router.get(f"{API}/customers/search.json").mock(
            return_value=httpx.Response(
                401, json={"errors": "[API] Invalid API key or access token"}
            )
        )
        with pytest.raises(AuthError) as info:
            await shopify.locate(SUBJECT)
        assert TOKEN not in str(info.value)

    async def test_malformed_json_is_protocol_error(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A search answer that is not JSON raises ProtocolError."""
        router.get(f"{API}/customers/search.json").mock(
            return_value=httpx.Response(200, content=b'{"customers": [')
        )
        with pytest.raises(ProtocolError):
            await shopify.locate(SUBJECT)

    async def test_429_waits_retry_after(
        self, router: respx.Router, shopify: ShopifyConnector, fake_time: FakeTime
    ) -> None:
        """A 429 with Retry-After: 2 is retried after exactly 2 s."""
        route = router.get(f"{API}/customers/search.json").mock(
            side_effect=[
                httpx.Response(
                    429,
                    headers={"Retry-After": "2"},
                    json={"errors": "Exceeded 2 calls per second"},
                ),
                httpx.Response(200, json={"customers": []}),
            ]
        )
        await shopify.locate(SUBJECT)
        assert route.call_count == 2
        assert fake_time.sleeps == [2.0]

    async def test_5xx_surfaces_as_transient_after_the_bound(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Persistent 503s end in TransientError after the retry policy's attempts."""
        route = router.get(f"{API}/customers/search.json").mock(return_value=httpx.Response(503))
        with pytest.raises(TransientError):
            await shopify.locate(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts

    async def test_repr_hides_the_token(self, shopify: ShopifyConnector) -> None:
        """The connector's repr never shows its credential."""
        assert TOKEN not in repr(shopify)
