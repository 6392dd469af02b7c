"""The three connectors against the sandbox emulators, over real sockets.

Time is compressed a hundredfold on both sides (``time_scale=0.01`` for the emulators and for
the client-side limiters), so rate windows and asynchronous jobs pass in milliseconds while
the limits keep their proportions. One sandbox serves the whole module; each test works on its
own people so that the tests do not depend on their order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from connectors import (
    Connector,
    FixedWindows,
    KlaviyoConnector,
    LeakyBucket,
    MailchimpConnector,
    Outcome,
    RetryPolicy,
    ShopifyConnector,
    Subject,
)
from connectors.shopify import MISSING_ALL_ORDERS, RESTRICTED_TAG
from connectors.shopify_graphql import ORDERS
from sandbox import MAILCHIMP_EVENTS_LIST_ID, ShopifyLimits
from sandbox.faults import FaultConfig, FaultKind
from sandbox.seed import JONAS, MARIA, NEWSLETTER_ONLY, NOBODY, SHOP_ONLY
from sandbox.server import RunningSandbox, Sandbox, running_sandbox
from sandbox.shopify_model import LineItem, Order

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

SCALE = 0.01
#: Retry-After is capped to the compressed time scale; Klaviyo rounds it up to whole seconds.
RETRY = RetryPolicy(
    max_attempts=10, max_elapsed=30.0, backoff_initial=0.005, backoff_max=0.05, retry_after_cap=0.05
)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """The connectors run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[RunningSandbox]:
    """One fault-free sandbox for the module, time compressed a hundredfold."""
    with running_sandbox(seed=1234, customers=200, async_delay=1.0, time_scale=SCALE) as running:
        yield running


@pytest.fixture(scope="module")
def faulty_sandbox() -> Iterator[RunningSandbox]:
    """A second sandbox answering 20 % of all requests with 502/503/504."""
    faults = FaultConfig(seed=7, error_rate=0.2)
    with running_sandbox(
        seed=99, customers=200, async_delay=1.0, time_scale=SCALE, faults=faults
    ) as running:
        yield running


def shopify_connector(running: RunningSandbox, token: str | None = None) -> ShopifyConnector:
    """A Shopify connector pacing itself on Shopify's points bucket, on the sandbox's time."""
    return ShopifyConnector(
        running.shopify_url,
        token or running.shopify_token,
        rate=LeakyBucket(capacity=2000, leak_rate=100.0, time_scale=SCALE),
        retry=RETRY,
    )


class Trio:
    """The three connectors of one sandbox, with limiters on the sandbox's time scale."""

    def __init__(self, running: RunningSandbox) -> None:
        self.shopify = shopify_connector(running)
        self.klaviyo = KlaviyoConnector(
            running.klaviyo_url,
            running.klaviyo_api_key,
            rate=FixedWindows(time_scale=SCALE),
            retry=RETRY,
        )
        self.mailchimp = MailchimpConnector(
            running.mailchimp_url, running.mailchimp_api_key, retry=RETRY
        )

    @property
    def all(self) -> tuple[Connector, Connector, Connector]:
        return (self.shopify, self.klaviyo, self.mailchimp)

    async def aclose(self) -> None:
        for connector in self.all:
            await connector.aclose()


@pytest.fixture
async def trio(sandbox: RunningSandbox) -> AsyncIterator[Trio]:
    """Connectors to the fault-free sandbox, closed after the test."""
    connectors = Trio(sandbox)
    yield connectors
    await connectors.aclose()


async def completed(connector: Connector, outcome: Outcome, *, timeout: float = 10.0) -> None:
    """Poll ``status`` until the outcome's job is done (returns at once for complete ones)."""
    if outcome.complete:
        return
    assert outcome.job_ref is not None
    deadline = time.monotonic() + timeout
    while not (await connector.status(outcome.job_ref)).complete:
        assert time.monotonic() < deadline, f"{connector.name} job did not complete"
        await asyncio.sleep(0.02)


def crowd(box: Sandbox, *, start: int, count: int) -> list[str]:
    """E-mail addresses of seeded shoppers present in all three systems, by customer id."""
    people = []
    with box.shopify.lock:
        customers = sorted(box.shopify.customers.values(), key=lambda c: c.id)
    for customer in customers:
        email = customer.email
        if not email or customer.id >= 7_000_000_000_000:  # personas have their own tests
            continue
        if box.klaviyo.find("email", email) and box.mailchimp.get(email) is not None:
            people.append(email)
    assert len(people) >= start + count, "not enough shoppers in all three systems"
    return people[start : start + count]


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in keys}


class TestAccess:
    async def test_export_returns_exactly_the_seeded_data(
        self, trio: Trio, sandbox: RunningSandbox
    ) -> None:
        """Maria's export holds her account, 2 addresses, 3 orders, 2 lists, 32 events, 1 member."""
        subject = Subject(emails=(MARIA.email,))
        box = sandbox.sandbox
        exported = await trio.shopify.export(subject)
        shop = exported.by_category()
        customer_id = MARIA.shopify_customer_id or 0
        customer = box.shopify.get(customer_id)
        assert customer is not None
        orders = box.shopify.orders_of(customer_id, status="any")
        assert [o["legacyResourceId"] for o in shop["orders"]] == [str(o.id) for o in orders]
        assert len(shop["orders"]) == MARIA.shopify_orders
        assert [o["paymentGatewayNames"] for o in shop["orders"]] == [o.gateways for o in orders]
        assert [len(o["lineItems"]) for o in shop["orders"]] == [len(o.line_items) for o in orders]
        assert shop["orders"][0]["fulfillments"][0]["trackingInfo"][0]["number"] == (
            orders[0].fulfillments[0].tracking[0].number
        )
        assert [a["city"] for a in shop["addresses"]] == [a.city for a in customer.addresses]
        assert len(shop["addresses"]) == MARIA.shopify_addresses
        (account,) = shop["customer_account"]
        assert (account["email"], account["phone"], account["lastName"]) == (
            MARIA.email,
            MARIA.phone,
            MARIA.last_name,
        )
        assert account["numberOfOrders"] == str(MARIA.shopify_orders)
        assert shop["marketing_consent"][0]["email_marketing"]["marketingState"] == "SUBSCRIBED"
        assert exported.incomplete == ()

        klaviyo = (await trio.klaviyo.export(subject)).by_category()
        profile_id = MARIA.klaviyo_profile_id or ""
        assert [p["id"] for p in klaviyo["profile"]] == [profile_id]
        assert len(klaviyo["list_memberships"]) == MARIA.klaviyo_lists
        events = box.klaviyo.events_where([])
        own = sorted(e.id for e in events if e.profile_id == profile_id)
        assert sorted(e["id"] for e in klaviyo["events"]) == own
        assert len(own) == MARIA.klaviyo_events

        mailchimp = (await trio.mailchimp.export(subject)).by_category()
        (member,) = mailchimp["newsletter_subscription"]
        assert member["id"] == MARIA.mailchimp_subscriber_hash
        assert member["status"] == "subscribed"

    async def test_every_letter_case_finds_jonas(self, trio: Trio) -> None:
        """Jonas is found in each system whatever case his address is written in there."""
        for spelling in ("Jonas.Beispiel@Example.com", JONAS.email, JONAS.email.upper()):
            subject = Subject(emails=(spelling,))
            for connector in trio.all:
                assert (await connector.locate(subject)).found, (connector.name, spelling)

    async def test_people_are_found_only_where_they_are(self, trio: Trio) -> None:
        """Newsletter-only and shop-only people are found only in their systems, nobody in none."""
        expected = {
            NEWSLETTER_ONLY.email: {"klaviyo", "mailchimp"},
            SHOP_ONLY.email: {"shopify"},
            NOBODY.email: set(),
        }
        for email, systems in expected.items():
            subject = Subject(emails=(email,))
            for connector in trio.all:
                located = await connector.locate(subject)
                assert located.found is (connector.name in systems), (connector.name, email)
                if not located.found:
                    assert (await connector.export(subject)).records == ()


class TestRectification:
    async def test_rectify_changes_exactly_the_requested_fields(
        self, trio: Trio, sandbox: RunningSandbox
    ) -> None:
        """Only the requested fields change (city only where an address is held); no rewrite.
        Jonas is in both Mailchimp audiences: both memberships are corrected."""
        box = sandbox.sandbox
        subject = Subject(emails=(JONAS.email,))
        customer_id = JONAS.shopify_customer_id or 0
        profile_id = JONAS.klaviyo_profile_id or ""
        member_id = JONAS.mailchimp_subscriber_hash or ""
        before_customer = dataclasses.asdict(box.shopify.customers[customer_id])
        before_profile = dataclasses.asdict(box.klaviyo.profiles[profile_id])
        before_member = dataclasses.asdict(box.mailchimp.members[member_id])
        events_member = box.mailchimp.get(member_id, MAILCHIMP_EVENTS_LIST_ID)
        assert events_member is not None

        changes = {"last_name": "Beispiel-Neu", "city": "Potsdam"}
        outcomes = [await c.rectify(subject, changes) for c in trio.all]  # type: ignore[arg-type]
        assert [o.count for o in outcomes] == [1, 1, 2]

        after_customer = dataclasses.asdict(box.shopify.customers[customer_id])
        assert after_customer["last_name"] == "Beispiel-Neu"
        assert after_customer["addresses"][0]["city"] == "Potsdam"
        assert without(after_customer, "last_name", "updated_at", "addresses") == without(
            before_customer, "last_name", "updated_at", "addresses"
        )
        assert without(after_customer["addresses"][0], "city") == without(
            before_customer["addresses"][0], "city"
        )

        after_profile = dataclasses.asdict(box.klaviyo.profiles[profile_id])
        assert after_profile["last_name"] == "Beispiel-Neu"
        assert after_profile["location"] == {**before_profile["location"], "city": "Potsdam"}
        assert without(after_profile, "last_name", "updated", "location") == without(
            before_profile, "last_name", "updated", "location"
        )

        after_member = dataclasses.asdict(box.mailchimp.members[member_id])
        assert after_member["merge_fields"] == {
            **before_member["merge_fields"],
            "LNAME": "Beispiel-Neu",
        }
        assert without(after_member, "merge_fields", "last_changed") == without(
            before_member, "merge_fields", "last_changed"
        )
        assert events_member.merge_fields["LNAME"] == "Beispiel-Neu"
        assert "2 member(s) have no address" in outcomes[2].note
        assert box.mailchimp.calls.effects("member_updated", member_id) == 2

        effects = (
            box.shopify.calls.effects("customer_updated"),
            box.klaviyo.calls.effects("profile_updated"),
            box.mailchimp.calls.effects("member_updated", member_id),
        )
        repeated = [await c.rectify(subject, changes) for c in trio.all]  # type: ignore[arg-type]
        assert [o.count for o in repeated] == [0, 0, 0]
        assert (
            box.shopify.calls.effects("customer_updated"),
            box.klaviyo.calls.effects("profile_updated"),
            box.mailchimp.calls.effects("member_updated", member_id),
        ) == effects


class TestRestriction:
    async def test_restriction_is_visible_and_lifting_never_resubscribes(
        self, trio: Trio, sandbox: RunningSandbox
    ) -> None:
        """Restrict takes effect once; lifting removes the mark but never re-subscribes."""
        box = sandbox.sandbox
        shop_subject = Subject(emails=(SHOP_ONLY.email,))
        news_subject = Subject(emails=(NEWSLETTER_ONLY.email,))
        customer_id = SHOP_ONLY.shopify_customer_id or 0
        profile_id = NEWSLETTER_ONLY.klaviyo_profile_id or ""
        member_id = NEWSLETTER_ONLY.mailchimp_subscriber_hash or ""

        assert (await trio.shopify.restrict(shop_subject)).count == 1
        await completed(trio.klaviyo, await trio.klaviyo.restrict(news_subject))
        assert (await trio.mailchimp.restrict(news_subject)).count == 1

        customer = box.shopify.customers[customer_id]
        assert customer.email_consent.state == "unsubscribed"
        assert RESTRICTED_TAG in customer.tags
        assert [s["reason"] for s in box.klaviyo.profiles[profile_id].suppressions] == [
            "USER_SUPPRESSED"
        ]
        assert box.mailchimp.members[member_id].status == "unsubscribed"

        counters = _restriction_effects(box, customer_id, profile_id, member_id)
        again = [
            await trio.shopify.restrict(shop_subject),
            await trio.klaviyo.restrict(news_subject),
            await trio.mailchimp.restrict(news_subject),
        ]
        assert [o.count for o in again] == [0, 0, 0]
        assert _restriction_effects(box, customer_id, profile_id, member_id) == counters

        assert (await trio.shopify.lift_restriction(shop_subject)).count == 1
        await completed(trio.klaviyo, await trio.klaviyo.lift_restriction(news_subject))
        await trio.mailchimp.lift_restriction(news_subject)
        assert RESTRICTED_TAG not in customer.tags
        assert customer.email_consent.state == "unsubscribed"
        assert box.klaviyo.profiles[profile_id].suppressions == []
        assert box.mailchimp.members[member_id].status == "unsubscribed"
        assert (await trio.shopify.lift_restriction(shop_subject)).count == 0


def _restriction_effects(
    box: Sandbox, customer_id: int, profile_id: str, member_id: str
) -> tuple[int, ...]:
    return (
        box.shopify.calls.effects("email_consent_updated", str(customer_id)),
        box.shopify.calls.effects("tags_added", str(customer_id)),
        box.klaviyo.calls.effects("suppression_requested", profile_id),
        box.mailchimp.calls.effects("member_updated", member_id),
    )


class TestErasure:
    async def test_erase_then_locate_finds_nothing(
        self, trio: Trio, sandbox: RunningSandbox
    ) -> None:
        """After the jobs complete nobody is found; orders stay, redacted; a repeat does nothing."""
        box = sandbox.sandbox
        (email,) = crowd(box, start=0, count=1)
        subject = Subject(emails=(email,))
        (customer,) = box.shopify.search(f"email:{email}")
        (profile,) = box.klaviyo.find("email", email)
        order_ids = [o.id for o in box.shopify.orders_of(customer.id, status="any")]

        shop, klaviyo, mailchimp = [await c.erase(subject) for c in trio.all]
        assert (shop.complete, klaviyo.complete, mailchimp.complete) == (False, False, True)
        assert shop.job_ref == f"shopify-erasure:{customer.id}"
        assert klaviyo.job_ref == f"klaviyo-deletion:{profile.id}"
        await completed(trio.shopify, shop)
        await completed(trio.klaviyo, klaviyo)

        for connector in trio.all:
            assert not (await connector.locate(subject)).found, connector.name
        assert all(
            box.shopify.orders[i].redacted for i in order_ids
        )  # Art. 17(3)(b): kept, redacted

        effects = (
            box.shopify.calls.effects("erasure_requested", str(customer.id)),
            box.klaviyo.calls.effects("deletion_requested", profile.id),
            box.mailchimp.calls.effects("member_deleted_permanently"),
        )
        assert effects[:2] == (1, 1)
        repeated = [await c.erase(subject) for c in trio.all]
        assert all(o.complete and o.count == 0 and o.note for o in repeated)
        assert (
            box.shopify.calls.effects("erasure_requested", str(customer.id)),
            box.klaviyo.calls.effects("deletion_requested", profile.id),
            box.mailchimp.calls.effects("member_deleted_permanently"),
        ) == effects

    async def test_nothing_to_erase_is_complete(self, trio: Trio) -> None:
        """Erasing someone no processor knows is complete at once, with a note."""
        subject = Subject(emails=(NOBODY.email,))
        for connector in trio.all:
            outcome = await connector.erase(subject)
            assert (outcome.complete, outcome.count) == (True, 0)
            assert outcome.note


class TestUnderFaults:
    async def test_200_operations_succeed_without_duplicate_effects(
        self, faulty_sandbox: RunningSandbox
    ) -> None:
        """With 20 % 5xx and forced 429 bursts all operations succeed, each effect happens once,
        and the client-side limiters keep the processors from refusing any request for rate."""
        box = faulty_sandbox.sandbox
        people = crowd(box, start=0, count=25)
        for name in ("shopify", "klaviyo", "mailchimp"):
            box.injector(name).force_throttle(3)
        trio = Trio(faulty_sandbox)
        gate = asyncio.Semaphore(12)

        async def one(person: str) -> list[tuple[str, str, Outcome | None]]:
            subject = Subject(emails=(person,))
            results: list[tuple[str, str, Outcome | None]] = []
            async with gate:
                for connector, action in (
                    (trio.shopify, "locate"),
                    (trio.shopify, "rectify"),
                    (trio.shopify, "restrict"),
                    (trio.klaviyo, "locate"),
                    (trio.klaviyo, "export"),
                    (trio.klaviyo, "rectify"),
                    (trio.mailchimp, "locate"),
                    (trio.mailchimp, "restrict"),
                ):
                    if action == "locate":
                        assert (await connector.locate(subject)).found
                        results.append((connector.name, action, None))
                    elif action == "export":
                        assert (await connector.export(subject)).records
                        results.append((connector.name, action, None))
                    elif action == "rectify":
                        outcome = await connector.rectify(subject, {"first_name": "Renamed"})
                        results.append((connector.name, action, outcome))
                    else:
                        results.append((connector.name, action, await connector.restrict(subject)))
            return results

        try:
            batches = await asyncio.gather(*(one(p) for p in people))
        finally:
            await trio.aclose()
        results = [r for batch in batches for r in batch]
        assert len(results) == 200

        injected = {name: box.injector(name).drawn for name in ("shopify", "klaviyo", "mailchimp")}
        assert all(drawn[FaultKind.ERROR] > 0 for drawn in injected.values())
        for name, state in (
            ("shopify", box.shopify),
            ("klaviyo", box.klaviyo),
            ("mailchimp", box.mailchimp),
        ):
            assert state.calls.throttled - injected[name][FaultKind.THROTTLE] == 0, name
            duplicates = {key: n for key, n in state.calls.side_effects.items() if n > 1}
            assert duplicates == {}, name

        renamed = [o for name, action, o in results if action == "rectify" and o is not None]
        assert all(o.count == 1 for o in renamed)
        for person in people:
            (customer,) = box.shopify.search(f"email:{person}")
            assert customer.first_name == "Renamed"
            assert RESTRICTED_TAG in customer.tags
            assert customer.email_consent.state == "unsubscribed"
            assert all(p.first_name == "Renamed" for p in box.klaviyo.find("email", person))
            member = box.mailchimp.get(person)
            assert member is not None
            assert member.status not in ("subscribed", "pending")


class TestShopifyOrderTraces:
    async def test_orders_show_the_gateways_carriers_and_checkout_addresses(
        self, sandbox: RunningSandbox
    ) -> None:
        """Maria paid with PayPal three times; two orders went with DHL Express."""
        connector = shopify_connector(sandbox)
        try:
            traces = await connector.traces(Subject(emails=(MARIA.email.upper(),)))
        finally:
            await connector.aclose()
        kinds = {(t.kind, t.value) for t in traces}
        assert kinds == {
            ("payment_gateway", "paypal"),
            ("carrier", "DHL Express"),
            ("checkout_address", "address"),
        }
        assert sorted(t.source for t in traces if t.kind == "carrier") == [
            "order #1001",
            "order #1002",
        ]

    async def test_a_customer_without_orders_and_a_stranger_leave_no_traces(
        self, sandbox: RunningSandbox
    ) -> None:
        connector = shopify_connector(sandbox)
        try:
            assert await connector.traces(Subject(emails=(SHOP_ONLY.email,))) == ()
            assert await connector.traces(Subject(emails=(NOBODY.email,))) == ()
        finally:
            await connector.aclose()


class TestShopifyOrdersAndPoints:
    async def test_old_orders_need_read_all_orders_and_the_export_says_so(
        self, sandbox: RunningSandbox
    ) -> None:
        """Jonas's 2024 order is older than 60 days: exported with read_all_orders; without
        it only his recent order comes back, and the export names what is missing."""
        box = sandbox.sandbox
        jonas = box.shopify.get(JONAS.shopify_customer_id or 0)
        assert jonas is not None
        recent = Order(
            id=5_900_000_000_002,
            number=9002,
            customer_id=jonas.id,
            created_at=datetime.now(UTC) - timedelta(days=10),
            currency="EUR",
            line_items=[LineItem(9, "Lip Care Duo", 1, Decimal("12.00"), "SKU-9", 9, 10)],
        )
        box.shopify.add_order(recent)
        box.shopify.grant("shpat_sandbox_recent_only", {"read_customers", "read_orders"})
        subject = Subject(emails=(JONAS.email,))
        full, limited = (
            shopify_connector(sandbox),
            shopify_connector(sandbox, "shpat_sandbox_recent_only"),
        )
        try:
            every = await full.export(subject)
            recent_only = await limited.export(subject)
        finally:
            await full.aclose()
            await limited.aclose()
        assert [o["name"] for o in every.by_category()["orders"]] == ["#1004", "#1005", "#9002"]
        assert every.incomplete == ()
        assert [o["name"] for o in recent_only.by_category()["orders"]] == ["#9002"]
        assert recent_only.incomplete == (MISSING_ALL_ORDERS,)

    async def test_pacing_on_the_reported_points_avoids_throttling_in_a_burst(self) -> None:
        """Ten exports at once against a shop with a small bucket (650 points, 10 restored a
        second) ask for far more points than it holds; the connector waits for the points
        Shopify reports instead of being throttled, and every export is whole."""
        limits = ShopifyLimits(graphql_capacity=650, graphql_restore_rate=10.0)
        with running_sandbox(customers=60, time_scale=SCALE, shopify_limits=limits) as running:
            box = running.sandbox
            shoppers = [c.email for c in box.shopify.visible() if c.email and c.id < 7 * 10**12]
            connector = shopify_connector(running)
            try:
                exports = await asyncio.gather(
                    *(connector.export(Subject(emails=(email,))) for email in shoppers[:10])
                )
            finally:
                await connector.aclose()
            assert box.shopify.calls.throttled == 0
        assert all(len(e.by_category()["customer_account"]) == 1 for e in exports)
        assert 10 * ORDERS.cost > 650 * 9
