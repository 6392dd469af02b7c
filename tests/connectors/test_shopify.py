"""Shopify connector: GraphQL request shapes, pagination, scopes, versions, pacing, errors."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
from typing import Any

import httpx
import pytest
import respx
from graphql import parse, specified_rules, validate
from graphql.validation import NoDeprecatedCustomRule
from structlog.testing import capture_logs

from connectors import shopify_graphql as documents
from connectors.base import Capability, Subject
from connectors.errors import (
    AuthError,
    ProtocolError,
    TransientError,
    Unsupported,
    ValidationFailed,
)
from connectors.http import RetryPolicy
from connectors.ratelimit import LeakyBucket, Unlimited
from connectors.shopify import MISSING_ALL_ORDERS, RESTRICTED_TAG, ShopifyConnector
from connectors.versions import SHOPIFY_API_VERSION, UnsupportedVersion
from dsar.settings import Settings
from sandbox.shopify_contract import Checked, check, load_schema
from sandbox.shopify_cost import Costing
from tests.connectors.fakes import FakeTime

pytestmark = pytest.mark.anyio

BASE = "https://lunexxa.myshopify.test"
ENDPOINT = f"{BASE}/admin/api/{SHOPIFY_API_VERSION}/graphql.json"
TOKEN = "shpat_unit_test_token"
EMAIL = "maria.muster@example.com"
SUBJECT = Subject(emails=(EMAIL,))
GID = "gid://shopify/Customer/207119551"
ALL_SCOPES = ["read_customers", "write_customers", "read_orders", "read_all_orders"]


def customer(**overrides: Any) -> dict[str, Any]:
    """A customer as the connector's search document selects it."""
    data: dict[str, Any] = {
        "id": GID,
        "legacyResourceId": "207119551",
        "firstName": "Maria",
        "lastName": "Muster",
        "tags": ["vip"],
        "defaultEmailAddress": {"emailAddress": EMAIL, "marketingState": "SUBSCRIBED"},
        "defaultPhoneNumber": {"phoneNumber": "+4917012345678"},
        "defaultAddress": {
            "id": "gid://shopify/MailingAddress/1?model_name=CustomerAddress",
            "address1": "Hauptstr. 1",
            "city": "Berlin",
            "countryCodeV2": "DE",
        },
    }
    data.update(overrides)
    return data


def page(nodes: list[dict[str, Any]], after: str | None = None) -> dict[str, Any]:
    return {"nodes": nodes, "pageInfo": {"hasNextPage": after is not None, "endCursor": after}}


def answer(data: dict[str, Any], available: float = 1990.0) -> httpx.Response:
    status = {"maximumAvailable": 2000.0, "currentlyAvailable": available, "restoreRate": 100.0}
    cost = {"requestedQueryCost": 10, "actualQueryCost": 10, "throttleStatus": status}
    return httpx.Response(200, json={"data": data, "extensions": {"cost": cost}})


def payload(field: str, **values: Any) -> httpx.Response:
    return answer({field: {"userErrors": [], **values}})


class Shop:
    """A respx stand-in for one shop's GraphQL endpoint, answering by operation name."""

    def __init__(self, router: respx.Router) -> None:
        self.answers: dict[str, list[httpx.Response]] = {}
        self.calls: list[dict[str, Any]] = []
        self.route = router.post(ENDPOINT).mock(side_effect=self._answer)

    def on(self, operation: str, *answers: httpx.Response) -> None:
        """Answer ``operation`` with these, in turn (the last one repeats)."""
        self.answers[operation] = list(answers)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        queue = self.answers[operation_of(body["query"])]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def sent(self, operation: str) -> list[dict[str, Any]]:
        """The variables of every call of ``operation``."""
        return [c["variables"] for c in self.calls if operation_of(c["query"]) == operation]


def operation_of(query: str) -> str:
    found = re.search(r"(?:query|mutation)\s+(\w+)", query)
    assert found is not None, "every document has a name"
    return found.group(1)


@pytest.fixture
def shop(router: respx.Router) -> Shop:
    stand_in = Shop(router)
    stand_in.on("FindCustomers", answer({"customers": page([customer()])}))
    stand_in.on("Scopes", answer(scopes(ALL_SCOPES)))
    return stand_in


def scopes(handles: list[str]) -> dict[str, Any]:
    return {"currentAppInstallation": {"accessScopes": [{"handle": h} for h in handles]}}


@pytest.fixture
def shopify(transport: httpx.AsyncBaseTransport, policy: RetryPolicy) -> ShopifyConnector:
    return ShopifyConnector(BASE, TOKEN, transport=transport, rate=Unlimited(), retry=policy)


class TestVersions:
    def test_the_default_is_the_pinned_version_in_the_settings_too(self) -> None:
        """The engine's setting defaults to the version the connector's documents are for."""
        assert Settings.model_fields["shopify_api_version"].default == SHOPIFY_API_VERSION
        assert ShopifyConnector(BASE, TOKEN).api_version == SHOPIFY_API_VERSION

    def test_a_version_past_its_end_is_refused_naming_the_setting(self) -> None:
        """2025-07 ended on 2026-07-01: the connector will not start on it."""
        with pytest.raises(UnsupportedVersion, match="DSAR_SHOPIFY_API_VERSION=2025-07"):
            ShopifyConnector(BASE, TOKEN, "2025-07", today=date(2026, 12, 4))

    def test_a_version_near_its_end_is_a_warning(self) -> None:
        """Within 60 days of the end the connector starts, and says when support ends."""
        with capture_logs() as logs:
            ShopifyConnector(BASE, TOKEN, "2026-01", today=date(2026, 12, 4))
        (warning,) = [e for e in logs if e["event"] == "shopify_api_version_ending"]
        assert warning["log_level"] == "warning"
        assert "2027-01-01" in warning["detail"]


class TestDocuments:
    @pytest.mark.parametrize("query", documents.DOCUMENTS, ids=lambda q: q.text.split("(")[0])
    def test_every_document_is_valid_and_current_in_the_pinned_schema(
        self, query: documents.Query
    ) -> None:
        """No unknown field, no wrong argument and no deprecated field (``email``, ``phone``,
        ``addresses``), and the cost it declares is the cost Shopify computes."""
        schema = load_schema(SHOPIFY_API_VERSION)
        document = parse(query.text)
        assert validate(schema, document, [*specified_rules, NoDeprecatedCustomRule]) == []
        checked = check(schema, query.text, variables=_example_variables(query.text))
        assert isinstance(checked, Checked), checked
        assert Costing(schema, checked).requested() == query.cost
        assert query.cost <= 1000


def _example_variables(text: str) -> dict[str, Any]:
    values = {
        "ID!": "gid://shopify/Customer/1",
        "String!": "x",
        "String": None,
        "[String!]!": ["x"],
        "CustomerInput!": {"id": "gid://shopify/Customer/1"},
        "MailingAddressInput!": {"city": "x"},
        "CustomerEmailMarketingConsentUpdateInput!": {
            "customerId": "gid://shopify/Customer/1",
            "emailMarketingConsent": {"marketingState": "UNSUBSCRIBED"},
        },
    }
    return {name: values[kind] for name, kind in re.findall(r"\$(\w+): ([\w!\[\]]+)", text)}


class TestLocate:
    async def test_searches_by_email_over_graphql_with_the_token(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Locate sends the customers query with ``email:"<address>"`` and the access token."""
        located = await shopify.locate(SUBJECT)
        assert (located.found, located.refs) == (True, ("customer:207119551",))
        (variables,) = shop.sent("FindCustomers")
        assert variables == {"query": f'email:"{EMAIL}"', "after": None}
        assert shop.route.calls.last.request.headers["X-Shopify-Access-Token"] == TOKEN

    async def test_fuzzy_search_hits_are_ignored(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Only the exact address (any letter case) counts."""
        other = customer(id="gid://shopify/Customer/9", legacyResourceId="9")
        other["defaultEmailAddress"] = {"emailAddress": EMAIL.upper(), "marketingState": "PENDING"}
        near = customer(defaultEmailAddress={"emailAddress": EMAIL + ".au"})
        shop.on("FindCustomers", answer({"customers": page([near, other])}))
        assert (await shopify.locate(SUBJECT)).refs == ("customer:9",)

    async def test_search_pages_are_followed_by_cursor(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """A second page is asked for with the first page's ``endCursor``."""
        later = customer(id="gid://shopify/Customer/2", legacyResourceId="2")
        shop.on(
            "FindCustomers",
            answer({"customers": page([customer()], after="c1")}),
            answer({"customers": page([later])}),
        )
        assert len((await shopify.locate(SUBJECT)).refs) == 2
        assert [v["after"] for v in shop.sent("FindCustomers")] == [None, "c1"]

    async def test_a_customer_id_is_looked_up_directly(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """A known Shopify id is read with ``customer(id:)``; ``null`` means absent."""
        shop.on("Customer", answer({"customer": None}))
        located = await shopify.locate(Subject(customer_ids={"shopify": "55"}))
        assert not located.found
        assert shop.sent("Customer") == [{"id": "gid://shopify/Customer/55"}]

    async def test_phone_search_matches_digits(self, shop: Shop, shopify: ShopifyConnector) -> None:
        """A phone is searched in E.164 form and matched by digits."""
        located = await shopify.locate(Subject(phones=("+49 170 12345678",)))
        assert located.found
        assert shop.sent("FindCustomers")[0]["query"] == 'phone:"+4917012345678"'


def order(number: int, *, items_after: str | None = None) -> dict[str, Any]:
    return {
        "id": f"gid://shopify/Order/{number}",
        "name": f"#{number}",
        "totalPriceSet": {"shopMoney": {"amount": "10.00", "currencyCode": "EUR"}},
        "paymentGatewayNames": ["paypal"],
        "shippingLines": page([{"title": "Standard", "originalPriceSet": None}]),
        "fulfillments": [],
        "lineItems": page([{"title": f"item {number}"}], after=items_after),
    }


class TestExport:
    @pytest.fixture
    def account(self, shop: Shop) -> None:
        full = {**customer(), "addressesV2": page([{"city": "Berlin"}, {"city": "Hamburg"}])}
        shop.on("Account", answer({"customer": full}))

    @pytest.mark.usefixtures("account")
    async def test_exports_account_addresses_orders_and_consent(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Orders are followed across pages, an order's further line items are fetched, and
        every item is one record."""
        shop.on(
            "Orders",
            answer({"customer": {"orders": page([order(1), order(2, items_after="i1")], "o1")}}),
            answer({"customer": {"orders": page([order(3)])}}),
        )
        more = page([{"title": "item 2b"}])
        shop.on("LineItems", answer({"order": {"lineItems": more}}))
        data = await shopify.export(SUBJECT)
        grouped = data.by_category()
        assert [o["name"] for o in grouped["orders"]] == ["#1", "#2", "#3"]
        assert [i["title"] for i in grouped["orders"][1]["lineItems"]] == ["item 2", "item 2b"]
        assert grouped["orders"][0]["totalPrice"] == {"amount": "10.00", "currency": "EUR"}
        assert grouped["customer_account"][0]["email"] == EMAIL
        assert [a["city"] for a in grouped["addresses"]] == ["Berlin", "Hamburg"]
        assert grouped["marketing_consent"][0]["email_marketing"]["marketingState"] == "SUBSCRIBED"
        assert [v["after"] for v in shop.sent("Orders")] == [None, "o1"]
        assert shop.sent("LineItems") == [{"id": "gid://shopify/Order/2", "after": "i1"}]
        assert data.incomplete == ()

    @pytest.mark.usefixtures("account")
    async def test_without_read_all_orders_the_export_says_what_is_missing(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """The token's scopes are asked once; lacking read_all_orders is named in the export."""
        shop.on("Scopes", answer(scopes(["read_customers", "read_orders"])))
        shop.on("Orders", answer({"customer": {"orders": page([order(1)])}}))
        first = await shopify.export(SUBJECT)
        second = await shopify.export(SUBJECT)
        assert first.incomplete == second.incomplete == (MISSING_ALL_ORDERS,)
        assert len(shop.sent("Scopes")) == 1

    async def test_nobody_exports_nothing(self, shop: Shop, shopify: ShopifyConnector) -> None:
        """A person not in the shop gets an empty, not failed, export."""
        shop.on("FindCustomers", answer({"customers": page([])}))
        assert (await shopify.export(SUBJECT)).records == ()


class TestRectify:
    async def test_sends_only_changed_account_fields(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """customerUpdate carries exactly the fields whose value differs."""
        shop.on("customerUpdate", payload("customerUpdate", customer={"id": GID}))
        outcome = await shopify.rectify(SUBJECT, {"last_name": "Muster-B", "first_name": "Maria"})
        assert shop.sent("customerUpdate") == [{"input": {"id": GID, "lastName": "Muster-B"}}]
        assert (outcome.complete, outcome.count, outcome.action) == (True, 1, Capability.RECTIFY)

    async def test_repeat_sends_nothing(self, shop: Shop, shopify: ShopifyConnector) -> None:
        """When the values are already right nothing is written and the count is 0."""
        outcome = await shopify.rectify(SUBJECT, {"first_name": "Maria", "city": "Berlin"})
        assert [c for c in shop.calls if "mutation" in c["query"]] == []
        assert outcome.count == 0

    async def test_address_fields_update_the_default_address_in_place(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """customerAddressUpdate names the default address; a country is its ISO code."""
        shop.on("customerAddressUpdate", payload("customerAddressUpdate", address={"id": "a"}))
        outcome = await shopify.rectify(SUBJECT, {"city": "München", "country": "at"})
        assert shop.sent("customerAddressUpdate") == [
            {
                "customerId": GID,
                "addressId": "gid://shopify/MailingAddress/1?model_name=CustomerAddress",
                "address": {"city": "München", "countryCode": "AT"},
            }
        ]
        assert outcome.note == "changed ['city', 'country']"

    async def test_user_errors_are_validation_failures_without_the_address(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """A userError becomes ValidationFailed whose message does not repeat the e-mail."""
        error = {"field": ["email"], "message": "new.maria@example.com has already been taken"}
        shop.on("customerUpdate", answer({"customerUpdate": {"userErrors": [error]}}))
        with pytest.raises(ValidationFailed) as info:
            await shopify.rectify(SUBJECT, {"email": "new.maria@example.com"})
        assert "@" not in str(info.value)

    async def test_fields_shopify_cannot_hold_are_unsupported(
        self, shopify: ShopifyConnector
    ) -> None:
        """An unknown field, or a country that is no ISO code, is refused, not dropped."""
        bad: Any = {"birthday": "1990-01-01"}
        with pytest.raises(Unsupported):
            await shopify.rectify(SUBJECT, bad)
        with pytest.raises(Unsupported, match="alpha-2"):
            await shopify.rectify(SUBJECT, {"country": "Austria"})


class TestErase:
    async def test_requests_data_erasure_with_the_customers_gid(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Erase calls customerRequestDataErasure: a pending job."""
        shop.on("customerRequestDataErasure", payload("customerRequestDataErasure", customerId=GID))
        outcome = await shopify.erase(SUBJECT)
        assert shop.sent("customerRequestDataErasure") == [{"customerId": GID}]
        assert (outcome.complete, outcome.count, outcome.job_ref) == (
            False,
            1,
            "shopify-erasure:207119551",
        )

    async def test_does_not_exist_counts_as_erased(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """userError DOES_NOT_EXIST means the customer is gone: complete, count 0."""
        gone = {"field": ["customerId"], "message": "gone", "code": "DOES_NOT_EXIST"}
        shop.on(
            "customerRequestDataErasure",
            answer({"customerRequestDataErasure": {"customerId": None, "userErrors": [gone]}}),
        )
        assert (await shopify.erase(SUBJECT)).complete

    async def test_status_follows_the_customer(self, shop: Shop, shopify: ShopifyConnector) -> None:
        """Pending while the customer has contact data; complete once redacted or gone."""
        redacted = customer(defaultEmailAddress=None, defaultPhoneNumber=None)
        redacted.update(firstName=None, lastName=None)
        shop.on(
            "Customer",
            answer({"customer": customer()}),
            answer({"customer": redacted}),
            answer({"customer": None}),
        )
        states = [(await shopify.status("shopify-erasure:207119551")).complete for _ in range(3)]
        assert states == [False, True, True]
        with pytest.raises(Unsupported):
            await shopify.status("klaviyo-deletion:01ABC")


class TestRestriction:
    async def test_restrict_unsubscribes_and_tags_once(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Restrict sets marketing to UNSUBSCRIBED and adds the tag; a restricted customer
        gets no mutation at all."""
        consent = "customerEmailMarketingConsentUpdate"
        shop.on(consent, payload(consent, customer={"id": GID}))
        shop.on("tagsAdd", payload("tagsAdd", node={"id": GID}))
        assert (await shopify.restrict(SUBJECT)).count == 1
        (sent,) = shop.sent(consent)
        assert sent["input"]["emailMarketingConsent"]["marketingState"] == "UNSUBSCRIBED"
        assert shop.sent("tagsAdd") == [{"id": GID, "tags": [RESTRICTED_TAG]}]
        done = customer(tags=[RESTRICTED_TAG])
        done["defaultEmailAddress"]["marketingState"] = "UNSUBSCRIBED"
        shop.on("FindCustomers", answer({"customers": page([done])}))
        assert (await shopify.restrict(SUBJECT)).count == 0
        assert len(shop.sent("tagsAdd")) == 1

    async def test_lift_removes_the_tag_and_never_resubscribes(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """Lifting sends tagsRemove only (Art. 7: no new consent)."""
        shop.on("FindCustomers", answer({"customers": page([customer(tags=[RESTRICTED_TAG])])}))
        shop.on("tagsRemove", payload("tagsRemove", node={"id": GID}))
        assert (await shopify.lift_restriction(SUBJECT)).count == 1
        assert [c for c in shop.calls if "Consent" in c["query"]] == []


class TestPacing:
    async def test_a_query_waits_until_shopify_has_its_points(
        self, shop: Shop, transport: httpx.AsyncBaseTransport, fake_time: FakeTime
    ) -> None:
        """After an answer reports 30 of 2000 points left, a search costing 42 waits for the
        12 missing points (0.12 s at 100/s) before it is sent, instead of being throttled."""
        bucket = LeakyBucket(
            capacity=2000, leak_rate=100, clock=fake_time.clock, sleep=fake_time.sleep
        )
        connector = ShopifyConnector(BASE, TOKEN, transport=transport, rate=bucket)
        shop.on("FindCustomers", answer({"customers": page([customer()])}, available=30.0))
        await connector.locate(SUBJECT)
        assert fake_time.sleeps == []
        await connector.locate(SUBJECT)
        assert fake_time.sleeps == [pytest.approx((documents.FIND.cost - 30) / 100)]
        assert bucket.capacity == 2000

    async def test_points_reserved_in_flight_come_back_with_the_answer(
        self, fake_time: FakeTime
    ) -> None:
        """Two 608-point queries do not fit a 700-point bucket at once: the second waits for
        the first's answer (not for leaking), then follows Shopify's reported level."""
        bucket = LeakyBucket(
            capacity=700, leak_rate=100, clock=fake_time.clock, sleep=fake_time.sleep
        )
        await bucket.acquire_points(608)
        second = asyncio.create_task(bucket.acquire_points(608))
        await asyncio.sleep(0)
        assert not second.done()
        bucket.release_points(608, maximum=700, available=650, restore_rate=100)
        await second
        assert fake_time.sleeps == []
        assert bucket.level == pytest.approx(50)

    async def test_throttled_is_retried_after_the_restore_time(
        self, shop: Shop, shopify: ShopifyConnector, fake_time: FakeTime
    ) -> None:
        """THROTTLED waits until the query's cost is restored, then succeeds."""
        status = {"maximumAvailable": 1000, "currentlyAvailable": 0, "restoreRate": 50}
        throttled = httpx.Response(
            200,
            json={
                "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED"}}],
                "extensions": {"cost": {"requestedQueryCost": 10, "throttleStatus": status}},
            },
        )
        shop.on("FindCustomers", throttled, answer({"customers": page([])}))
        await shopify.locate(SUBJECT)
        assert fake_time.sleeps == [pytest.approx(0.2)]


class TestErrors:
    async def test_access_denied_is_an_auth_error(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """ACCESS_DENIED names the missing scope in an AuthError."""
        denied = {
            "message": "Access denied for customers field. Required access: `read_customers`.",
            "extensions": {"code": "ACCESS_DENIED"},
        }
        shop.on("FindCustomers", httpx.Response(200, json={"data": None, "errors": [denied]}))
        with pytest.raises(AuthError, match="read_customers"):
            await shopify.locate(SUBJECT)

    async def test_401_is_auth_error_without_token(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """A bad token raises AuthError; the message never repeats the token."""
        router.post(ENDPOINT).mock(
            return_value=httpx.Response(401, json={"errors": "[API] Invalid API key"})
        )
        with pytest.raises(AuthError) as info:
            await shopify.locate(SUBJECT)
        assert TOKEN not in str(info.value)

    async def test_malformed_json_is_protocol_error(
        self, shop: Shop, shopify: ShopifyConnector
    ) -> None:
        """An answer that is not JSON raises ProtocolError."""
        shop.on("FindCustomers", httpx.Response(200, content=b'{"data": {'))
        with pytest.raises(ProtocolError):
            await shopify.locate(SUBJECT)

    async def test_5xx_surfaces_as_transient_after_the_bound(
        self, router: respx.Router, shopify: ShopifyConnector
    ) -> None:
        """Persistent 503s end in TransientError after the retry policy's attempts."""
        route = router.post(ENDPOINT).mock(return_value=httpx.Response(503))
        with pytest.raises(TransientError):
            await shopify.locate(SUBJECT)
        assert route.call_count == RetryPolicy().max_attempts

    async def test_repr_hides_the_token(self, shopify: ShopifyConnector) -> None:
        """The connector's repr never shows its credential."""
        assert TOKEN not in repr(shopify)
