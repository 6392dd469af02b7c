"""Deterministic sandbox data: a crowd of fake shoppers and the well-known personas.

The same ``seed`` always gives the same data: Faker (locales de_AT, de_DE, en_US, seeded)
fills small pools of names and places once, and a seeded ``random.Random`` combines them, which
keeps 2,000 customers well under a second. Timestamps count back from a fixed
:data:`REFERENCE_TIME`, not from today. Every address uses the reserved ``example.*`` domains,
so nothing here can reach a real mailbox. People appear in some systems and not others, and
now and then with a different letter case per system, as in real shops.

The personas (:data:`PERSONAS`) have the same ids, addresses, memberships and counts whatever
the seed and the sizes; tests and the demo rely on them:

- :data:`MARIA` — in all three systems: Shopify with 2 addresses and 3 orders (one still open)
  and e-mail marketing subscribed; Klaviyo in 2 lists with 32 events; Mailchimp subscribed.
- :data:`JONAS` — in all three, with a different letter case of his address in each.
- :data:`NEWSLETTER_ONLY` — Klaviyo and Mailchimp only.
- :data:`SHOP_ONLY` — Shopify only, without orders.
- :data:`NOBODY` — in no system.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from faker import Faker

from sandbox.credentials import MAILCHIMP_LIST_ID
from sandbox.klaviyo_state import CROCKFORD, Event, KlaviyoState, KList, Metric, Profile
from sandbox.mailchimp_state import MailchimpState, Member, subscriber_hash
from sandbox.shopify_model import Address, Consent, Customer, LineItem, Order
from sandbox.shopify_state import ShopifyState

#: All seeded timestamps lie before this moment.
REFERENCE_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Persona:
    """A person the sandbox always knows, and where.

    ``email`` is the canonical (lower-case) address; ``*_email`` is how each system spells it
    (``None`` where the person is absent).
    """

    key: str
    email: str
    first_name: str
    last_name: str
    phone: str | None = None
    shopify_email: str | None = None
    klaviyo_email: str | None = None
    mailchimp_email: str | None = None
    shopify_customer_id: int | None = None
    klaviyo_profile_id: str | None = None
    shopify_addresses: int = 0
    shopify_orders: int = 0
    klaviyo_lists: int = 0
    klaviyo_events: int = 0

    @property
    def mailchimp_subscriber_hash(self) -> str | None:
        """The member id in Mailchimp, if a member."""
        return subscriber_hash(self.mailchimp_email) if self.mailchimp_email else None

    @property
    def systems(self) -> frozenset[str]:
        """The processors that hold this person."""
        present = {
            "shopify": self.shopify_email,
            "klaviyo": self.klaviyo_email,
            "mailchimp": self.mailchimp_email,
        }
        return frozenset(name for name, email in present.items() if email)


MARIA_EMAIL = "maria.muster@example.com"
JONAS_EMAIL = "jonas.beispiel@example.com"
NEWSLETTER_ONLY_EMAIL = "newsletter.only@example.com"
SHOP_ONLY_EMAIL = "shop.only@example.com"
NOBODY_EMAIL = "nobody@example.com"

MARIA = Persona(
    key="maria", email=MARIA_EMAIL, first_name="Maria", last_name="Muster",
    phone="+436601234567", shopify_email=MARIA_EMAIL, klaviyo_email=MARIA_EMAIL,
    mailchimp_email=MARIA_EMAIL, shopify_customer_id=7_000_000_000_001,
    klaviyo_profile_id="01JA0000000000000000MAR1A0", shopify_addresses=2, shopify_orders=3,
    klaviyo_lists=2, klaviyo_events=32,
)  # fmt: skip
JONAS = Persona(
    key="jonas", email=JONAS_EMAIL, first_name="Jonas", last_name="Beispiel",
    phone="+4915112345678", shopify_email="Jonas.Beispiel@Example.com",
    klaviyo_email="jonas.beispiel@example.com", mailchimp_email="JONAS.BEISPIEL@example.com",
    shopify_customer_id=7_000_000_000_002, klaviyo_profile_id="01JA0000000000000000J0NAS0",
    shopify_addresses=1, shopify_orders=1, klaviyo_lists=1, klaviyo_events=5,
)  # fmt: skip
NEWSLETTER_ONLY = Persona(
    key="newsletter_only", email=NEWSLETTER_ONLY_EMAIL, first_name="Nora",
    last_name="Neumann", klaviyo_email=NEWSLETTER_ONLY_EMAIL,
    mailchimp_email=NEWSLETTER_ONLY_EMAIL, klaviyo_profile_id="01JA0000000000000000NEWS00",
    klaviyo_lists=1, klaviyo_events=3,
)  # fmt: skip
SHOP_ONLY = Persona(
    key="shop_only", email=SHOP_ONLY_EMAIL, first_name="Sophie", last_name="Schulz",
    shopify_email=SHOP_ONLY_EMAIL, shopify_customer_id=7_000_000_000_003, shopify_addresses=1,
)  # fmt: skip
NOBODY = Persona(key="nobody", email=NOBODY_EMAIL, first_name="No", last_name="Body")

PERSONAS: dict[str, Persona] = {
    p.key: p for p in (MARIA, JONAS, NEWSLETTER_ONLY, SHOP_ONLY, NOBODY)
}

NEWSLETTER_LIST = KList("UxN3kp", "Newsletter", REFERENCE_TIME - timedelta(days=900))
VIP_LIST = KList("Rk7vQ2", "VIP Customers", REFERENCE_TIME - timedelta(days=700))
BACK_IN_STOCK_LIST = KList("Hm4bT9", "Back in Stock", REFERENCE_TIME - timedelta(days=500))
WINBACK_LIST = KList("Wd8sLe", "Winback", REFERENCE_TIME - timedelta(days=300))
KLAVIYO_LISTS = (NEWSLETTER_LIST, VIP_LIST, BACK_IN_STOCK_LIST, WINBACK_LIST)
METRICS = (
    Metric("Y7PlcO", "Placed Order", "Shopify"),
    Metric("Vw3OpE", "Opened Email", "Klaviyo"),
    Metric("Ck9ClE", "Clicked Email", "Klaviyo"),
    Metric("Pv2VwP", "Viewed Product", "Shopify"),
    Metric("Rc5RcE", "Received Email", "Klaviyo"),
)
PRODUCTS = (
    ("Night Cream 50 ml", Decimal("34.90")),
    ("Vitamin C Serum 30 ml", Decimal("29.50")),
    ("Cleansing Foam 150 ml", Decimal("14.90")),
    ("Hand Balm 75 ml", Decimal("9.90")),
    ("Lip Care Duo", Decimal("12.00")),
    ("Gift Voucher 50 EUR", Decimal("50.00")),
)
SUBJECTS = ("Neu im Shop", "Your weekly picks", "Nur heute: -20 %", "Back in stock")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari",
)
DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")
_COUNTRIES = {"de_AT": ("Austria", "AT", "+43"), "de_DE": ("Germany", "DE", "+49"),
              "en_US": ("United States", "US", "+1")}  # fmt: skip
_LOCALE_WEIGHTS = (("de_AT", 0.4), ("de_DE", 0.35), ("en_US", 0.25))
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe",
                          "Ü": "Ue"})  # fmt: skip


@dataclass
class SeedData:
    """The three emulators' states, filled."""

    shopify: ShopifyState
    klaviyo: KlaviyoState
    mailchimp: MailchimpState


@dataclass(frozen=True)
class _Place:
    street: str
    city: str
    zip: str
    province: str | None
    province_code: str | None


@dataclass
class _Person:
    locale: str
    first: str
    last: str
    email: str
    phone: str | None
    place: _Place


def crockford(number: int, length: int) -> str:
    """``number`` in Crockford base32, left-padded to ``length`` characters."""
    chars = []
    for _ in range(length):
        number, rest = divmod(number, 32)
        chars.append(CROCKFORD[rest])
    return "".join(reversed(chars))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text.translate(_UMLAUTS))
    return "".join(c for c in ascii_text if c.isascii() and c.isalnum()).lower() or "x"


@lru_cache(maxsize=4)
def _pools(seed: int, size: int = 150) -> dict[str, dict[str, list[Any]]]:
    """Names and places per locale from Faker; cached, as building Faker takes a while."""
    pools: dict[str, dict[str, list[Any]]] = {}
    for offset, (locale, _) in enumerate(_LOCALE_WEIGHTS):
        fake = Faker(locale)
        fake.seed_instance(seed * 10 + offset)
        has_state = locale == "en_US"
        pools[locale] = {
            "first": [fake.first_name() for _ in range(size)],
            "last": [fake.last_name() for _ in range(size)],
            "place": [
                _Place(
                    fake.street_address(),
                    fake.city(),
                    fake.postcode(),
                    fake.state() if has_state else None,
                    fake.state_abbr() if has_state else None,
                )
                for _ in range(size)
            ],
            "company": [fake.company() for _ in range(size // 5)],
        }
    return pools


def _phone(rng: random.Random, locale: str) -> str:
    if locale == "de_AT":
        return f"+4366{rng.randrange(10**7, 10**8)}"
    if locale == "de_DE":
        return f"+4915{rng.randrange(10**8, 10**9)}"
    return f"+1{rng.randrange(201, 990)}555{rng.randrange(1000, 10000)}"


def _recased(rng: random.Random, email: str) -> str:
    """Now and then, the address as another system happens to have stored it."""
    if rng.random() >= 0.05:
        return email
    local, _, domain = email.partition("@")
    return f"{local.title()}@{domain.capitalize()}" if rng.random() < 0.5 else email.upper()


class _Builder:
    """Fills the three states; one instance per seeding run."""

    def __init__(self, seed: int, list_id: str) -> None:
        self.rng = random.Random(seed)
        self.pools = _pools(seed)
        self.customers: list[Customer] = []
        self.orders: list[Order] = []
        self.profiles: list[Profile] = []
        self.events: list[Event] = []
        self.members: list[Member] = []
        self.list_id = list_id
        self._order_id = 5_000_000_000_000
        self._order_number = 1000
        self._address_id = 8_000_000_000_000
        self._item_id = 3_000_000_000_000
        self._web_id = 500_000_000

    def when(self, max_days: int = 900) -> datetime:
        """A moment before the reference time."""
        return REFERENCE_TIME - timedelta(seconds=self.rng.randrange(max_days * 86_400))

    def person(self, index: int) -> _Person:
        rng = self.rng
        locale = rng.choices([lc for lc, _ in _LOCALE_WEIGHTS], [w for _, w in _LOCALE_WEIGHTS])[0]
        pool = self.pools[locale]
        first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
        email = f"{_slug(first)}.{_slug(last)}{index}@{rng.choice(DOMAINS)}"
        phone = _phone(rng, locale) if rng.random() < 0.7 else None
        return _Person(locale, first, last, email, phone, rng.choice(pool["place"]))

    def address(self, customer_id: int, who: _Person, place: _Place, *, default: bool) -> Address:
        self._address_id += 1
        country, code, _ = _COUNTRIES[who.locale]
        return Address(
            id=self._address_id, customer_id=customer_id, first_name=who.first,
            last_name=who.last, address1=place.street, city=place.city, zip=place.zip,
            country=country, country_code=code, province=place.province,
            province_code=place.province_code, phone=who.phone, default=default,
        )  # fmt: skip

    def customer(
        self,
        customer_id: int,
        who: _Person,
        *,
        email: str,
        addresses: int,
        consent: str,
        created: datetime,
    ) -> Customer:
        places = [who.place] + [
            self.rng.choice(self.pools[who.locale]["place"]) for _ in range(addresses - 1)
        ]
        customer = Customer(
            id=customer_id, email=email, first_name=who.first, last_name=who.last,
            phone=who.phone, currency="USD" if who.locale == "en_US" else "EUR",
            created_at=created, updated_at=created,
            email_consent=Consent(consent, "single_opt_in", created),
            sms_consent=Consent("not_subscribed", "single_opt_in", created) if who.phone
            else None,
        )  # fmt: skip
        customer.addresses = [
            self.address(customer_id, who, place, default=i == 0) for i, place in enumerate(places)
        ]
        self.customers.append(customer)
        return customer

    def order(
        self,
        customer: Customer,
        created: datetime,
        *,
        status: str,
        items: list[tuple[str, Decimal, int]] | None = None,
    ) -> Order:
        rng = self.rng
        self._order_id += 1
        self._order_number += 1
        if items is None:
            picks = rng.sample(PRODUCTS, rng.randint(1, 3))
            items = [(title, price, rng.randint(1, 2)) for title, price in picks]
        lines = []
        for title, price, quantity in items:
            self._item_id += 1
            product = 600_000_000 + PRODUCTS.index((title, price))
            lines.append(
                LineItem(
                    self._item_id, title, quantity, price, f"SKU-{product}", product, product + 1000
                )
            )
        address = customer.default_address
        postal = address.postal() if address else None
        closed = created + timedelta(days=rng.randint(2, 9)) if status == "closed" else None
        cancelled = created + timedelta(hours=rng.randint(1, 48)) if status == "cancelled" else None
        order = Order(
            id=self._order_id, number=self._order_number, customer_id=customer.id,
            created_at=created, currency=customer.currency, line_items=lines,
            email=customer.email, phone=customer.phone,
            browser_ip=f"203.0.113.{rng.randint(1, 254)}", user_agent=rng.choice(USER_AGENTS),
            billing_address=postal, shipping_address=dict(postal) if postal else None,
            note="Bitte beim Nachbarn abgeben" if rng.random() < 0.1 else None,
            note_attributes=[{"name": "gift_message", "value": "Alles Gute!"}]
            if rng.random() < 0.05 else [],
            shipping_price=Decimal("4.90"),
            financial_status="refunded" if cancelled else "paid",
            fulfillment_status="fulfilled" if closed else None,
            closed_at=closed, cancelled_at=cancelled,
        )  # fmt: skip
        self.orders.append(order)
        return order

    def profile(
        self,
        profile_id: str,
        who: _Person,
        *,
        email: str,
        list_ids: list[str],
        events: int,
        external_id: str | None,
        consent: str,
    ) -> Profile:
        created = self.when()
        country, code, _ = _COUNTRIES[who.locale]
        profile = Profile(
            id=profile_id, email=email, first_name=who.first, last_name=who.last,
            phone_number=who.phone, external_id=external_id,
            locale={"de_AT": "de-AT", "de_DE": "de-DE", "en_US": "en-US"}[who.locale],
            created=created, updated=created, list_ids=list_ids, email_consent=consent,
            consent_timestamp=created if consent != "NEVER_SUBSCRIBED" else None,
            location={"address1": who.place.street, "city": who.place.city,
                      "zip": who.place.zip, "country": country, "region": who.place.province,
                      "timezone": "America/New_York" if code == "US" else "Europe/Vienna"},
            properties={"source": "shop signup form"},
        )  # fmt: skip
        for _ in range(events):
            self.event(profile, created)
        self.profiles.append(profile)
        return profile

    def event(self, profile: Profile, after: datetime) -> None:
        rng = self.rng
        span = max(1, int((REFERENCE_TIME - after).total_seconds()))
        moment = after + timedelta(seconds=rng.randrange(span))
        metric = rng.choice(METRICS)
        properties: dict[str, Any]
        if metric.name == "Placed Order":
            title, price = rng.choice(PRODUCTS)
            properties = {
                "$value": float(price),
                "Items": [title],
                "OrderId": str(rng.randint(1001, 9999)),
            }
        elif metric.name == "Viewed Product":
            title, price = rng.choice(PRODUCTS)
            properties = {"ProductName": title, "Price": float(price)}
        else:
            properties = {"Subject": rng.choice(SUBJECTS), "Campaign Name": "Newsletter"}
        event = Event(
            id="4" + crockford(rng.getrandbits(100), 20),
            profile_id=profile.id,
            metric_id=metric.id,
            datetime=moment,
            properties=properties,
            uuid=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        self.events.append(event)
        if profile.last_event_date is None or moment > profile.last_event_date:
            profile.last_event_date = moment

    def member(self, who: _Person, *, email: str, status: str) -> Member:
        self._web_id += 1
        signed_up = self.when()
        merge: dict[str, Any] = {"FNAME": who.first, "LNAME": who.last}
        if who.phone:
            merge["PHONE"] = who.phone
        member = Member(
            email_address=email, status=status, merge_fields=merge,
            unique_email_id=subscriber_hash(email)[:10], web_id=self._web_id,
            language="en" if who.locale == "en_US" else "de",
            ip_signup=f"198.51.100.{self.rng.randint(1, 254)}", timestamp_signup=signed_up,
            timestamp_opt=signed_up if status == "subscribed" else None,
            last_changed=signed_up, location={"country_code": _COUNTRIES[who.locale][1]},
        )  # fmt: skip
        self.members.append(member)
        return member


def _crowd(b: _Builder, customers: int, newsletter_only: int, events_per_profile: int) -> None:
    rng = b.rng
    for index in range(customers + newsletter_only):
        who = b.person(index)
        in_shop = index < customers
        in_klaviyo = rng.random() < (0.6 if in_shop else 0.8)
        in_mailchimp = rng.random() < (0.4 if in_shop else 0.6) or not (in_shop or in_klaviyo)
        external_id = None
        if in_shop:
            customer_id = 6_000_000_000_000 + index * 7 + 1
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
                email=_recased(rng, who.email),
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
            b.member(who, email=_recased(rng, who.email), status=status)


def _personas(b: _Builder) -> None:
    vienna = _Place("Mariahilfer Straße 1", "Wien", "1060", None, None)
    graz = _Place("Herrengasse 16", "Graz", "8010", None, None)
    maria = _Person("de_AT", "Maria", "Muster", MARIA_EMAIL, MARIA.phone, vienna)
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
    b.order(
        customer,
        datetime(2024, 3, 12, 18, 4, tzinfo=UTC),
        status="closed",
        items=[(*night, 1), (*balm, 2)],
    )
    b.order(
        customer, datetime(2024, 11, 28, 20, 15, tzinfo=UTC), status="closed", items=[(*serum, 1)]
    )
    b.order(
        customer,
        datetime(2025, 5, 4, 7, 45, tzinfo=UTC),
        status="open",
        items=[(*night, 1), (*serum, 1)],
    )
    b.profile(
        MARIA.klaviyo_profile_id or "",
        maria,
        email=MARIA_EMAIL,
        list_ids=[NEWSLETTER_LIST.id, VIP_LIST.id],
        events=MARIA.klaviyo_events,
        external_id=str(customer.id),
        consent="SUBSCRIBED",
    )
    member = b.member(maria, email=MARIA_EMAIL, status="subscribed")
    member.merge_fields["PHONE"] = "+43 660 1234567"

    berlin = _Place("Unter den Linden 5", "Berlin", "10117", None, None)
    jonas = _Person("de_DE", "Jonas", "Beispiel", JONAS_EMAIL, JONAS.phone, berlin)
    customer = b.customer(
        7_000_000_000_002,
        jonas,
        email=JONAS.shopify_email or "",
        addresses=1,
        consent="not_subscribed",
        created=datetime(2024, 1, 8, 14, 0, tzinfo=UTC),
    )
    b.order(
        customer,
        datetime(2024, 6, 30, 11, 20, tzinfo=UTC),
        status="closed",
        items=[(*PRODUCTS[2], 1)],
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

    linz = _Place("Landstraße 12", "Linz", "4020", None, None)
    nora = _Person("de_AT", "Nora", "Neumann", NEWSLETTER_ONLY_EMAIL, None, linz)
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

    salzburg = _Place("Getreidegasse 9", "Salzburg", "5020", None, None)
    sophie = _Person("de_AT", "Sophie", "Schulz", SHOP_ONLY_EMAIL, None, salzburg)
    b.customer(
        7_000_000_000_003,
        sophie,
        email=SHOP_ONLY_EMAIL,
        addresses=1,
        consent="not_subscribed",
        created=datetime(2025, 1, 20, 16, 45, tzinfo=UTC),
    )


def seed_sandbox(
    *,
    seed: int = 1234,
    customers: int = 2000,
    newsletter_only: int | None = None,
    events_per_profile: int = 8,
    list_id: str = MAILCHIMP_LIST_ID,
) -> SeedData:
    """Build the three states: ``customers`` shop customers (plus the personas) and
    ``newsletter_only`` people known only to the newsletter tools (default: a quarter of
    ``customers``), each Klaviyo profile with about ``events_per_profile`` events.
    """
    if customers < 0 or events_per_profile < 0:
        raise ValueError("sizes must not be negative")
    builder = _Builder(seed, list_id)
    _personas(builder)
    extra = customers // 4 if newsletter_only is None else newsletter_only
    _crowd(builder, customers, extra, events_per_profile)
    return SeedData(
        shopify=ShopifyState(customers=builder.customers, orders=builder.orders),
        klaviyo=KlaviyoState(
            profiles=builder.profiles,
            lists=[replace(k) for k in KLAVIYO_LISTS],
            metrics=[replace(m) for m in METRICS],
            events=builder.events,
        ),
        mailchimp=MailchimpState(list_id=list_id, members=builder.members),
    )
