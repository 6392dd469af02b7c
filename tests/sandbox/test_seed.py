"""Seeding: deterministic, privacy-safe, and the personas exactly as tests and the demo expect."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dsar import settings
from sandbox import (
    JONAS,
    KLAVIYO_API_KEY,
    MAILCHIMP_API_KEY,
    MAILCHIMP_LIST_ID,
    MARIA,
    NEWSLETTER_ONLY,
    NOBODY,
    PERSONAS,
    SHOP_ONLY,
    SHOPIFY_APP_SECRET,
    SHOPIFY_TOKEN,
    seed_sandbox,
)
from sandbox.seed import SeedData


@pytest.fixture(scope="module")
def data() -> SeedData:
    """The default-sized data set, built once for the module (it is only read here)."""
    return seed_sandbox()


def fingerprint(data: SeedData) -> list[Any]:
    shopify, klaviyo, mailchimp = data.shopify, data.klaviyo, data.mailchimp
    return [
        [(c.id, c.email, c.phone, [a.city for a in c.addresses]) for c in shopify.visible()],
        sorted((o.id, o.customer_id, str(o.total), o.status) for o in shopify.orders.values()),
        sorted((p.id, p.email, tuple(p.list_ids)) for p in klaviyo.profiles.values()),
        sorted((e.id, e.profile_id, e.datetime) for e in klaviyo.events.values()),
        [(m.id, m.email_address, m.status) for m in mailchimp.members.values()],
    ]


def emails(data: SeedData, system: str) -> set[str]:
    if system == "shopify":
        return {(c.email or "").lower() for c in data.shopify.customers.values()}
    if system == "klaviyo":
        return {(p.email or "").lower() for p in data.klaviyo.profiles.values()}
    return {m.email_address.lower() for m in data.mailchimp.members.values()}


class TestDeterminism:
    def test_same_seed_gives_the_same_data(self) -> None:
        """Two runs with one seed build identical data; another seed builds other data."""
        first = fingerprint(seed_sandbox(seed=5, customers=150))
        assert first == fingerprint(seed_sandbox(seed=5, customers=150))
        assert first != fingerprint(seed_sandbox(seed=6, customers=150))

    def test_sizes_are_configurable(self) -> None:
        """``customers`` shop customers are seeded besides the personas."""
        small = seed_sandbox(customers=40, newsletter_only=10)
        shop_personas = sum(1 for p in PERSONAS.values() if p.shopify_customer_id)
        assert len(small.shopify.customers) == 40 + shop_personas

    def test_default_data_set_has_thousands_of_people_spread_over_systems(
        self, data: SeedData
    ) -> None:
        """People sit in some systems and not others, as in a real shop."""
        shop, klaviyo, mailchimp = (emails(data, s) for s in ("shopify", "klaviyo", "mailchimp"))
        assert len(shop) == 2003
        assert shop - klaviyo - mailchimp
        assert (klaviyo | mailchimp) - shop
        assert shop & klaviyo & mailchimp
        assert len(data.shopify.orders) > 1000
        assert len(data.klaviyo.events) > 5000

    def test_every_seeded_address_is_on_a_reserved_example_domain(self, data: SeedData) -> None:
        """No seeded e-mail can reach a real mailbox (RFC 2606 domains only)."""
        every = emails(data, "shopify") | emails(data, "klaviyo") | emails(data, "mailchimp")
        every.discard("")
        pattern = re.compile(r"@(?:[a-z0-9-]+\.)*example\.(?:com|org|net)$")
        assert all(pattern.search(address) for address in every)


class TestPersonas:
    def test_maria_is_everywhere_with_her_addresses_orders_lists_and_events(
        self, data: SeedData
    ) -> None:
        """Maria: 2 addresses, 3 orders, subscribed; 2 lists and ≥ 30 events; subscribed."""
        customer = data.shopify.get(MARIA.shopify_customer_id or 0)
        assert customer is not None
        assert (customer.email, customer.first_name, customer.last_name, customer.phone) == (
            MARIA.email,
            "Maria",
            "Muster",
            "+436601234567",
        )
        assert len(customer.addresses) == 2
        assert len(data.shopify.orders_of(customer.id, status="any")) == 3
        assert customer.email_consent.state == "subscribed"
        profile = data.klaviyo.get(MARIA.klaviyo_profile_id or "")
        assert profile is not None
        assert len(profile.list_ids) == 2
        events = [e for e in data.klaviyo.events.values() if e.profile_id == profile.id]
        assert len(events) == MARIA.klaviyo_events >= 30
        member = data.mailchimp.get(MARIA.mailchimp_subscriber_hash or "")
        assert member is not None
        assert member.status == "subscribed"
        assert (member.merge_fields["FNAME"], member.merge_fields["LNAME"]) == ("Maria", "Muster")

    def test_jonas_is_spelled_differently_in_each_system(self, data: SeedData) -> None:
        """Jonas's address differs in letter case per system, as the personas promise."""
        customer = data.shopify.get(JONAS.shopify_customer_id or 0)
        profile = data.klaviyo.get(JONAS.klaviyo_profile_id or "")
        member = data.mailchimp.get(JONAS.email)
        assert customer is not None
        assert profile is not None
        assert member is not None
        assert customer.email == "Jonas.Beispiel@Example.com"
        assert profile.email == "jonas.beispiel@example.com"
        assert member.email_address == "JONAS.BEISPIEL@example.com"

    @pytest.mark.parametrize(
        ("persona", "systems"),
        [
            (MARIA, {"shopify", "klaviyo", "mailchimp"}),
            (JONAS, {"shopify", "klaviyo", "mailchimp"}),
            (NEWSLETTER_ONLY, {"klaviyo", "mailchimp"}),
            (SHOP_ONLY, {"shopify"}),
            (NOBODY, set()),
        ],
        ids=lambda value: getattr(value, "key", ""),
    )
    def test_each_persona_is_in_exactly_its_systems(
        self, data: SeedData, persona: Any, systems: set[str]
    ) -> None:
        """A persona's address is present in its systems and absent from the others."""
        assert persona.systems == systems
        for system in ("shopify", "klaviyo", "mailchimp"):
            assert (persona.email in emails(data, system)) == (system in systems)

    def test_shop_only_has_no_orders(self, data: SeedData) -> None:
        """The shop-only persona never ordered, so the shop may delete her outright."""
        assert data.shopify.orders_of(SHOP_ONLY.shopify_customer_id or 0, status="any") == []


def test_credentials_match_the_engines_sandbox_settings() -> None:
    """The emulators accept exactly the credentials the engine defaults to."""
    assert (SHOPIFY_TOKEN, SHOPIFY_APP_SECRET) == (
        settings.SANDBOX_SHOPIFY_TOKEN,
        settings.SANDBOX_SHOPIFY_APP_SECRET,
    )
    assert (KLAVIYO_API_KEY, MAILCHIMP_API_KEY, MAILCHIMP_LIST_ID) == (
        settings.SANDBOX_KLAVIYO_API_KEY,
        settings.SANDBOX_MAILCHIMP_API_KEY,
        settings.SANDBOX_MAILCHIMP_LIST_ID,
    )
