"""Deterministic sandbox data: a crowd of fake shoppers and the well-known personas.

The same ``seed`` always gives the same data (people are fabricated by
:mod:`sandbox.people` from seeded Faker pools and a seeded RNG); 2,000 customers take well
under a second. Timestamps count back from a fixed :data:`REFERENCE_TIME`, not from today.
Every address uses the reserved ``example.*`` domains, so nothing here can reach a real
mailbox. Shopify orders carry a payment gateway and a shipping line, and closed ones a tracked
fulfilment. People appear in some systems and not others, and now and then with a different
letter case per system, as in real shops.

The personas (:data:`~sandbox.personas.PERSONAS`, re-exported here) have the same ids,
addresses, memberships and counts whatever the seed and the sizes; tests and the demo rely on
them:

- :data:`MARIA` — in all three systems: Shopify with 2 addresses and 3 orders (one still open)
  and e-mail marketing subscribed; Klaviyo in 2 lists with 32 events; Mailchimp subscribed.
  Her orders date from 2024 and 2025, older than 60 days on any date the emulator serves a
  supported API version, so only a token with ``read_all_orders`` sees them (as Jonas's).
  She pays with PayPal only; her two shipped orders went with DHL Express.
- :data:`JONAS` — in all three, with a different letter case of his address in each; two
  orders, one paid with Klarna and shipped by UPS, one with Shopify Payments by post.
- :data:`NEWSLETTER_ONLY` — Klaviyo and Mailchimp only.

Mailchimp holds two audiences: the newsletter (:data:`~sandbox.credentials.MAILCHIMP_LIST_ID`)
and workshops and events (:data:`~sandbox.credentials.MAILCHIMP_EVENTS_LIST_ID`). Jonas is a
member of both; the events audience's other members are shop customers who are not on the
newsletter, drawn from an RNG of their own so that adding the audience changed nothing else.
- :data:`SHOP_ONLY` — Shopify only, without orders.
- :data:`NOBODY` — in no system.

A second shop (``second_shop``) holds its own crowd, with customer ids of its own, and of the
personas only Maria (:data:`~sandbox.personas.MARIA_SECOND_SHOP`): the same address, her own
customer id, one address and two orders (Shopify Payments, UPS), and a Klaviyo profile on the
newsletter list. Its Mailchimp account has the newsletter audience only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sandbox.catalog import (
    KLAVIYO_LISTS,
    METRICS,
    NEWSLETTER_LIST,
    PRODUCTS,
    REFERENCE_TIME,
    VIP_LIST,
)
from sandbox.credentials import (
    MAILCHIMP_EVENTS_LIST_ID,
    MAILCHIMP_LIST_ID,
    SHOPIFY_SCOPES,
    SHOPIFY_TOKEN,
)
from sandbox.klaviyo_state import KlaviyoState
from sandbox.mailchimp_state import Audience, MailchimpState, Member, subscriber_hash
from sandbox.people import Person, Place, RecordBuilder, crockford, recased
from sandbox.personas import (
    JONAS,
    JONAS_EMAIL,
    MARIA,
    MARIA_EMAIL,
    MARIA_SECOND_SHOP,
    NEWSLETTER_ONLY,
    NEWSLETTER_ONLY_EMAIL,
    NOBODY,
    NOBODY_EMAIL,
    PERSONAS,
    SHOP_ONLY,
    SHOP_ONLY_EMAIL,
    Persona,
)
from sandbox.shopify_state import ShopifyState

__all__ = [
    "JONAS",
    "JONAS_EMAIL",
    "MARIA",
    "MARIA_EMAIL",
    "NEWSLETTER_ONLY",
    "NEWSLETTER_ONLY_EMAIL",
    "NOBODY",
    "NOBODY_EMAIL",
    "PERSONAS",
    "REFERENCE_TIME",
    "SHOP_ONLY",
    "SHOP_ONLY_EMAIL",
    "Persona",
    "SeedData",
    "seed_sandbox",
]


@dataclass
class SeedData:
    """The three emulators' states, filled."""

    shopify: ShopifyState
    klaviyo: KlaviyoState
    mailchimp: MailchimpState


#: The first crowd customer's id in the first shop and in a second one.
FIRST_CROWD_ID = 6_000_000_000_001
SECOND_SHOP_FIRST_CROWD_ID = 6_500_000_000_001


def _crowd(
    b: RecordBuilder, customers: int, newsletter_only: int, events_per_profile: int, first_id: int
) -> None:
    rng = b.rng
    for index in range(customers + newsletter_only):
        who = b.person(index)
        in_shop = index < customers
        in_klaviyo = rng.random() < (0.6 if in_shop else 0.8)
        in_mailchimp = rng.random() < (0.4 if in_shop else 0.6) or not (in_shop or in_klaviyo)
        external_id = None
        if in_shop:
            customer_id = first_id + index * 7
            consent = rng.choices(
                ["subscribed", "not_subscribed", "unsubscribed"], [0.45, 0.40, 0.15]
            )[0]
            created = b.when()
            customer = b.customer(
                customer_id,
                who,
                email=who.email,
                addresses=2 if rng.random() < 0.2 else 1,
                consent=consent,
                created=created,
            )
            count = rng.choices([0, 1, 2, 3, 5], [0.35, 0.30, 0.20, 0.10, 0.05])[0]
            for _ in range(count):
                status = rng.choices(["closed", "open", "cancelled"], [0.7, 0.2, 0.1])[0]
                span = max(1, int((REFERENCE_TIME - created).total_seconds()))
                b.order(customer, created + timedelta(seconds=rng.randrange(span)), status=status)
            external_id = str(customer_id) if rng.random() < 0.5 else None
        if in_klaviyo:
            lists = [
                k.id
                for k, share in zip(KLAVIYO_LISTS, (0.7, 0.1, 0.15, 0.1), strict=True)
                if rng.random() < share
            ]
            consent = "SUBSCRIBED" if NEWSLETTER_LIST.id in lists else "NEVER_SUBSCRIBED"
            if rng.random() < 0.05:
                consent = "UNSUBSCRIBED"
            profile = b.profile(
                "01" + crockford(rng.getrandbits(120), 24),
                who,
                email=recased(rng, who.email),
                list_ids=lists,
                events=rng.randint(0, 2 * events_per_profile),
                external_id=external_id,
                consent=consent,
            )
            if rng.random() < 0.02:
                profile.suppressions.append(
                    {"reason": "HARD_BOUNCE", "timestamp": profile.created.isoformat()}
                )
        if in_mailchimp:
            status = rng.choices(
                ["subscribed", "unsubscribed", "cleaned", "pending", "archived"],
                [0.75, 0.15, 0.04, 0.03, 0.03],
            )[0]
            b.member(who, email=recased(rng, who.email), status=status)


def _personas(b: RecordBuilder) -> None:
    vienna = Place("Mariahilfer Straße 1", "Wien", "1060", None, None)
    graz = Place("Herrengasse 16", "Graz", "8010", None, None)
    maria = Person("de_AT", "Maria", "Muster", MARIA_EMAIL, MARIA.phone, vienna)
    customer = b.customer(
        7_000_000_000_001,
        maria,
        email=MARIA_EMAIL,
        addresses=1,
        consent="subscribed",
        created=datetime(2023, 2, 14, 9, 30, tzinfo=UTC),
    )
    customer.addresses.append(b.address(customer.id, maria, graz, default=False))
    night, serum, balm = PRODUCTS[0], PRODUCTS[1], PRODUCTS[3]
    # Maria always pays with PayPal; her parcels go with DHL Express.
    paid = {"gateway": "paypal", "carrier": "DHL Express"}
    b.order(
        customer,
        datetime(2024, 3, 12, 18, 4, tzinfo=UTC),
        status="closed",
        items=[(*night, 1), (*balm, 2)],
        **paid,
    )
    b.order(
        customer,
        datetime(2024, 11, 28, 20, 15, tzinfo=UTC),
        status="closed",
        items=[(*serum, 1)],
        **paid,
    )
    b.order(
        customer,
        datetime(2025, 5, 4, 7, 45, tzinfo=UTC),
        status="open",
        items=[(*night, 1), (*serum, 1)],
        **paid,
    )
    b.profile(
        MARIA.klaviyo_profile_id or "",
        maria,
        email=MARIA_EMAIL,
        list_ids=[NEWSLETTER_LIST.id, VIP_LIST.id],
        events=MARIA.klaviyo_events,
        external_id=str(customer.id),
        consent="SUBSCRIBED",
        sms_consent="SUBSCRIBED",  # she also agreed to marketing texts at the checkout
    )
    member = b.member(maria, email=MARIA_EMAIL, status="subscribed")
    member.merge_fields["PHONE"] = "+43 660 1234567"

    berlin = Place("Unter den Linden 5", "Berlin", "10117", None, None)
    jonas = Person("de_DE", "Jonas", "Beispiel", JONAS_EMAIL, JONAS.phone, berlin)
    customer = b.customer(
        7_000_000_000_002,
        jonas,
        email=JONAS.shopify_email or "",
        addresses=1,
        consent="not_subscribed",
        created=datetime(2024, 1, 8, 14, 0, tzinfo=UTC),
    )
    # Jonas paid once with Klarna (sent by UPS), once with Shopify Payments (by post).
    b.order(
        customer,
        datetime(2024, 6, 30, 11, 20, tzinfo=UTC),
        status="closed",
        items=[(*PRODUCTS[2], 1)],
        gateway="klarna",
        carrier="UPS",
    )
    b.order(
        customer,
        datetime(2025, 2, 3, 9, 10, tzinfo=UTC),
        status="closed",
        items=[(*PRODUCTS[4], 1)],
        gateway="shopify_payments",
        carrier="Österreichische Post",
    )
    b.profile(
        JONAS.klaviyo_profile_id or "",
        jonas,
        email=JONAS.klaviyo_email or "",
        list_ids=[NEWSLETTER_LIST.id],
        events=JONAS.klaviyo_events,
        external_id=None,
        consent="SUBSCRIBED",
    )
    b.member(jonas, email=JONAS.mailchimp_email or "", status="subscribed")

    linz = Place("Landstraße 12", "Linz", "4020", None, None)
    nora = Person("de_AT", "Nora", "Neumann", NEWSLETTER_ONLY_EMAIL, None, linz)
    b.profile(
        NEWSLETTER_ONLY.klaviyo_profile_id or "",
        nora,
        email=NEWSLETTER_ONLY_EMAIL,
        list_ids=[NEWSLETTER_LIST.id],
        events=NEWSLETTER_ONLY.klaviyo_events,
        external_id=None,
        consent="SUBSCRIBED",
    )
    b.member(nora, email=NEWSLETTER_ONLY_EMAIL, status="subscribed")

    salzburg = Place("Getreidegasse 9", "Salzburg", "5020", None, None)
    sophie = Person("de_AT", "Sophie", "Schulz", SHOP_ONLY_EMAIL, None, salzburg)
    b.customer(
        7_000_000_000_003,
        sophie,
        email=SHOP_ONLY_EMAIL,
        addresses=1,
        consent="not_subscribed",
        created=datetime(2025, 1, 20, 16, 45, tzinfo=UTC),
    )


def _second_shop_personas(b: RecordBuilder) -> None:
    """Maria at a second shop: the same address, everything else her own there."""
    vienna = Place("Mariahilfer Straße 1", "Wien", "1060", None, None)
    maria = Person("de_AT", "Maria", "Muster", MARIA_EMAIL, MARIA_SECOND_SHOP.phone, vienna)
    customer = b.customer(
        MARIA_SECOND_SHOP.shopify_customer_id or 0,
        maria,
        email=MARIA_EMAIL,
        addresses=1,
        consent="subscribed",
        created=datetime(2024, 9, 2, 19, 5, tzinfo=UTC),
    )
    paid = {"gateway": "shopify_payments", "carrier": "UPS"}
    b.order(
        customer,
        datetime(2024, 9, 2, 19, 12, tzinfo=UTC),
        status="closed",
        items=[(*PRODUCTS[4], 2)],
        **paid,
    )
    b.order(
        customer,
        datetime(2025, 4, 18, 8, 30, tzinfo=UTC),
        status="closed",
        items=[(*PRODUCTS[2], 1), (*PRODUCTS[5], 1)],
        **paid,
    )
    b.profile(
        MARIA_SECOND_SHOP.klaviyo_profile_id or "",
        maria,
        email=MARIA_EMAIL,
        list_ids=[NEWSLETTER_LIST.id],
        events=MARIA_SECOND_SHOP.klaviyo_events,
        external_id=str(customer.id),
        consent="SUBSCRIBED",
    )


def _events_audience(b: RecordBuilder, seed: int) -> Audience:
    """The second audience: Jonas, and about a fifth of the crowd's shoppers who are not on the
    newsletter."""
    rng = random.Random(f"mailchimp-events-{seed}")
    newsletter = {m.id for m in b.members}
    jonas = JONAS.mailchimp_email or ""
    people = [(jonas, "Jonas", "Beispiel")] + [
        (c.email, c.first_name or "", c.last_name or "")
        for c in b.customers
        if c.email and c.id < 7_000_000_000_000 and subscriber_hash(c.email) not in newsletter
        if rng.random() < 0.2
    ]
    members = []
    for index, (email, first, last) in enumerate(people):
        signed_up = REFERENCE_TIME - timedelta(seconds=rng.randrange(600 * 86_400))
        status = "subscribed" if index == 0 else rng.choice(["subscribed", "unsubscribed"])
        members.append(
            Member(
                email_address=email,
                status=status,
                merge_fields={"FNAME": first, "LNAME": last},
                unique_email_id=subscriber_hash(email)[:10],
                web_id=700_000_000 + index,
                ip_signup=f"198.51.100.{rng.randint(1, 254)}",
                timestamp_signup=signed_up,
                timestamp_opt=signed_up if status == "subscribed" else None,
                last_changed=signed_up,
                source="Event registration",
            )
        )
    return Audience.of(MAILCHIMP_EVENTS_LIST_ID, "Workshops & Events", members)


def seed_sandbox(
    *,
    seed: int = 1234,
    customers: int = 2000,
    newsletter_only: int | None = None,
    events_per_profile: int = 8,
    list_id: str = MAILCHIMP_LIST_ID,
    shopify_token: str = SHOPIFY_TOKEN,
    second_shop: bool = False,
) -> SeedData:
    """Build the three states: ``customers`` shop customers (plus the personas) and
    ``newsletter_only`` people known only to the newsletter tools (default: a quarter of
    ``customers``), each Klaviyo profile with about ``events_per_profile`` events.

    Shopify accepts ``shopify_token`` (with every scope the engine needs); ``list_id`` is the
    newsletter audience's id. ``second_shop`` seeds another shop's data: its own crowd and
    :data:`~sandbox.personas.SECOND_SHOP_PERSONAS` (pass it a seed of its own too).
    """
    if customers < 0 or events_per_profile < 0:
        raise ValueError("sizes must not be negative")
    builder = RecordBuilder(seed)
    (_second_shop_personas if second_shop else _personas)(builder)
    extra = customers // 4 if newsletter_only is None else newsletter_only
    first_id = SECOND_SHOP_FIRST_CROWD_ID if second_shop else FIRST_CROWD_ID
    _crowd(builder, customers, extra, events_per_profile, first_id)
    shopify = ShopifyState(customers=builder.customers, orders=builder.orders)
    shopify.tokens = {shopify_token: SHOPIFY_SCOPES}
    return SeedData(
        shopify=shopify,
        klaviyo=KlaviyoState(
            profiles=builder.profiles,
            lists=[replace(k) for k in KLAVIYO_LISTS],
            metrics=[replace(m) for m in METRICS],
            events=builder.events,
        ),
        mailchimp=MailchimpState(
            list_id=list_id,
            members=builder.members,
            audiences=[] if second_shop else [_events_audience(builder, seed)],
        ),
    )
