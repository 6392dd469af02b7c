"""Fake people and their records in each system, for seeding.

Faker (locales de_AT, de_DE, en_US, seeded) fills small pools of names and places once per
seed; a seeded ``random.Random`` combines them into people and builds their Shopify customers
and orders, Klaviyo profiles and events and Mailchimp members. Building from pools keeps
2,000 customers well under a second; all addresses use the reserved ``example.*`` domains.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from faker import Faker

from sandbox.catalog import DOMAINS, METRICS, PRODUCTS, REFERENCE_TIME, SUBJECTS, USER_AGENTS
from sandbox.klaviyo_state import CROCKFORD, Event, Profile
from sandbox.mailchimp_state import Member, subscriber_hash
from sandbox.shopify_model import (
    Address,
    Consent,
    Customer,
    Fulfillment,
    LineItem,
    Order,
    ShippingLine,
    Tracking,
)

COUNTRIES = {"de_AT": ("Austria", "AT", "+43"), "de_DE": ("Germany", "DE", "+49"),
              "en_US": ("United States", "US", "+1")}  # fmt: skip
LOCALE_WEIGHTS = (("de_AT", 0.4), ("de_DE", 0.35), ("en_US", 0.25))
#: Payment gateways and carriers an order is given, picked by its id (not by the seeded RNG, so
#: that adding them left every other seeded value as it was).
GATEWAYS = ("shopify_payments", "paypal", "klarna", "Cash on Delivery (COD)")
CARRIERS = ("Österreichische Post", "DHL Express", "UPS")
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe",
                          "Ü": "Ue"})  # fmt: skip


@dataclass(frozen=True)
class Place:
    """A postal address without the person."""

    street: str
    city: str
    zip: str
    province: str | None
    province_code: str | None


@dataclass
class Person:
    """Somebody fake: locale, name, canonical e-mail, phone and home address."""

    locale: str
    first: str
    last: str
    email: str
    phone: str | None
    place: Place


def _logistics(order: Order, gateway: str | None = None, carrier: str | None = None) -> None:
    """Payment gateway, shipping line and, once closed, a tracked fulfilment: as given, or by
    order id."""
    order.gateways = [gateway or GATEWAYS[order.id % len(GATEWAYS)]]
    order.shipping_lines = [
        ShippingLine(order.id + 1, "Standard", "STANDARD", order.shipping_price)
    ]
    if order.closed_at is not None:
        carrier = carrier or CARRIERS[order.number % len(CARRIERS)]
        number = f"1Z{order.id % 10**10:010d}AT"
        url = f"https://tracking.example.com/{number}"
        order.fulfillments = [
            Fulfillment(order.id + 2, order.closed_at, tracking=[Tracking(carrier, number, url)])
        ]


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
def name_pools(seed: int, size: int = 150) -> dict[str, dict[str, list[Any]]]:
    """Names and places per locale from Faker; cached, as building Faker takes a while."""
    pools: dict[str, dict[str, list[Any]]] = {}
    for offset, (locale, _) in enumerate(LOCALE_WEIGHTS):
        fake = Faker(locale)
        fake.seed_instance(seed * 10 + offset)
        has_state = locale == "en_US"
        pools[locale] = {
            "first": [fake.first_name() for _ in range(size)],
            "last": [fake.last_name() for _ in range(size)],
            "place": [
                Place(
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


def recased(rng: random.Random, email: str) -> str:
    """Now and then, the address as another system happens to have stored it."""
    if rng.random() >= 0.05:
        return email
    local, _, domain = email.partition("@")
    return f"{local.title()}@{domain.capitalize()}" if rng.random() < 0.5 else email.upper()


class RecordBuilder:
    """Builds the records of every system from one seeded RNG; one instance per seeding run."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pools = name_pools(seed)
        self.customers: list[Customer] = []
        self.orders: list[Order] = []
        self.profiles: list[Profile] = []
        self.events: list[Event] = []
        self.members: list[Member] = []
        self._order_id = 5_000_000_000_000
        self._order_number = 1000
        self._address_id = 8_000_000_000_000
        self._item_id = 3_000_000_000_000
        self._web_id = 500_000_000

    def when(self, max_days: int = 900) -> datetime:
        """A moment before the reference time."""
        return REFERENCE_TIME - timedelta(seconds=self.rng.randrange(max_days * 86_400))

    def person(self, index: int) -> Person:
        """The ``index``-th fake person; the index keeps e-mail addresses unique."""
        rng = self.rng
        locale = rng.choices([lc for lc, _ in LOCALE_WEIGHTS], [w for _, w in LOCALE_WEIGHTS])[0]
        pool = self.pools[locale]
        first, last = rng.choice(pool["first"]), rng.choice(pool["last"])
        email = f"{_slug(first)}.{_slug(last)}{index}@{rng.choice(DOMAINS)}"
        phone = _phone(rng, locale) if rng.random() < 0.7 else None
        return Person(locale, first, last, email, phone, rng.choice(pool["place"]))

    def address(self, customer_id: int, who: Person, place: Place, *, default: bool) -> Address:
        """A customer address at ``place``."""
        self._address_id += 1
        country, code, _ = COUNTRIES[who.locale]
        return Address(
            id=self._address_id, customer_id=customer_id, first_name=who.first,
            last_name=who.last, address1=place.street, city=place.city, zip=place.zip,
            country=country, country_code=code, province=place.province,
            province_code=place.province_code, phone=who.phone, default=default,
        )  # fmt: skip

    def customer(
        self,
        customer_id: int,
        who: Person,
        *,
        email: str,
        addresses: int,
        consent: str,
        created: datetime,
    ) -> Customer:
        """A Shopify customer with ``addresses`` addresses (the first at home)."""
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
        gateway: str | None = None,
        carrier: str | None = None,
    ) -> Order:
        """An order of ``customer``'s with random items unless ``items`` are given; paid and
        shipped as given, or as its id falls."""
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
        _logistics(order, gateway, carrier)
        self.orders.append(order)
        return order

    def profile(
        self,
        profile_id: str,
        who: Person,
        *,
        email: str,
        list_ids: list[str],
        events: int,
        external_id: str | None,
        consent: str,
        sms_consent: str = "NEVER_SUBSCRIBED",
    ) -> Profile:
        """A Klaviyo profile with ``events`` events after its creation."""
        created = self.when()
        country, code, _ = COUNTRIES[who.locale]
        profile = Profile(
            id=profile_id, email=email, first_name=who.first, last_name=who.last,
            phone_number=who.phone, external_id=external_id,
            locale={"de_AT": "de-AT", "de_DE": "de-DE", "en_US": "en-US"}[who.locale],
            created=created, updated=created, list_ids=list_ids, email_consent=consent,
            consent_timestamp=created if consent != "NEVER_SUBSCRIBED" else None,
            sms_consent=sms_consent,
            sms_consent_timestamp=created if sms_consent != "NEVER_SUBSCRIBED" else None,
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
        """One event of a random metric, between ``after`` and the reference time."""
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

    def member(self, who: Person, *, email: str, status: str) -> Member:
        """A Mailchimp member with FNAME/LNAME (and PHONE when known)."""
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
            last_changed=signed_up, location={"country_code": COUNTRIES[who.locale][1]},
        )  # fmt: skip
        self.members.append(member)
        return member
