"""The Shopify emulator's records and their REST representations.

Customers with addresses and marketing consent, orders with line items, payment gateways,
shipping lines, fulfilments with tracking, and the personal fields Shopify copies into them
(e-mail, phone, browser IP, client details, billing and shipping address, note), and pending
erasures; :func:`customer_document` and :func:`order_document`
render them as the REST API does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.jobs import Job

CENT = Decimal("0.01")


def now_utc() -> datetime:
    """Wall-clock time for timestamps in the data (never for rate limits or jobs)."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """Shopify's timestamp format."""
    return moment.isoformat(timespec="seconds") if moment else None


def digits(phone: str | None) -> str:
    """A phone number's digits only, for matching numbers written differently."""
    return re.sub(r"\D", "", phone or "")


@dataclass
class Consent:
    """E-mail or SMS marketing consent as Shopify's REST API shows it."""

    state: str
    opt_in_level: str | None = "single_opt_in"
    updated_at: datetime | None = None


@dataclass
class Address:
    """A customer's address (also the shape of order billing/shipping addresses)."""

    id: int
    customer_id: int
    first_name: str | None
    last_name: str | None
    address1: str | None
    city: str | None
    zip: str | None
    country: str | None
    country_code: str | None
    address2: str | None = None
    company: str | None = None
    province: str | None = None
    province_code: str | None = None
    phone: str | None = None
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        """The REST representation inside ``addresses`` and ``default_address``."""
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            **self.postal(),
            "country_name": self.country,
            "default": self.default,
        }

    def postal(self) -> dict[str, Any]:
        """The fields an order copies into its billing and shipping address."""
        name = " ".join(p for p in (self.first_name, self.last_name) if p) or None
        return {
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "province": self.province,
            "country": self.country,
            "zip": self.zip,
            "phone": self.phone,
            "name": name,
            "province_code": self.province_code,
            "country_code": self.country_code,
        }


@dataclass
class LineItem:
    """One product line of an order."""

    id: int
    title: str
    quantity: int
    price: Decimal
    sku: str
    product_id: int
    variant_id: int


@dataclass
class ShippingLine:
    """How an order was shipped and what shipping cost."""

    id: int
    title: str
    code: str
    price: Decimal
    source: str = "shopify"


@dataclass
class Tracking:
    """A parcel's carrier and tracking number."""

    company: str
    number: str
    url: str | None = None


@dataclass
class Fulfillment:
    """One shipment of an order's items."""

    id: int
    created_at: datetime
    status: str = "success"
    tracking: list[Tracking] = field(default_factory=list)


@dataclass
class Order:
    """An order; ``redacted`` once its customer's erasure has completed."""

    id: int
    number: int
    customer_id: int | None
    created_at: datetime
    currency: str
    line_items: list[LineItem]
    email: str | None = None
    phone: str | None = None
    browser_ip: str | None = None
    user_agent: str | None = None
    billing_address: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    note: str | None = None
    note_attributes: list[dict[str, str]] = field(default_factory=list)
    shipping_price: Decimal = Decimal("0.00")
    financial_status: str = "paid"
    fulfillment_status: str | None = "fulfilled"
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=lambda: ["shopify_payments"])
    shipping_lines: list[ShippingLine] = field(default_factory=list)
    fulfillments: list[Fulfillment] = field(default_factory=list)
    redacted: bool = False

    @property
    def status(self) -> str:
        """``open``, ``closed`` or ``cancelled``, as the ``status`` filter sees it."""
        if self.cancelled_at:
            return "cancelled"
        return "closed" if self.closed_at else "open"

    @property
    def total(self) -> Decimal:
        """Items plus shipping."""
        return sum((li.price * li.quantity for li in self.line_items), self.shipping_price)


@dataclass
class Customer:
    """A shop customer; ``erased`` once an erasure has completed."""

    id: int
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None = None
    state: str = "enabled"
    note: str | None = None
    verified_email: bool = True
    tags: list[str] = field(default_factory=list)
    currency: str = "EUR"
    created_at: datetime = field(default_factory=now_utc)
    updated_at: datetime = field(default_factory=now_utc)
    addresses: list[Address] = field(default_factory=list)
    email_consent: Consent = field(default_factory=lambda: Consent("not_subscribed"))
    sms_consent: Consent | None = None
    erased: bool = False

    @property
    def gid(self) -> str:
        """The GraphQL global id."""
        return f"gid://shopify/Customer/{self.id}"

    @property
    def default_address(self) -> Address | None:
        """The address flagged default, else the first."""
        return next((a for a in self.addresses if a.default), None) or next(
            iter(self.addresses), None
        )


@dataclass
class Erasure:
    """An erasure request: ``pending`` until it completes or is cancelled."""

    customer_id: int
    requested_at: datetime
    status: str = "pending"
    job: Job | None = None


def customer_document(customer: Customer, orders: list[Order]) -> dict[str, Any]:
    """The REST ``customer`` object; ``orders`` are the customer's, for the order counters."""
    paid = [o for o in orders if o.status != "cancelled"]
    last = max(orders, key=lambda o: o.created_at, default=None)
    default = customer.default_address
    email_consent = None
    if customer.email:
        email_consent = consent_document(customer.email_consent)
    sms_consent = None
    if customer.phone and customer.sms_consent:
        sms_consent = {
            **consent_document(customer.sms_consent),
            "consent_collected_from": "SHOPIFY",
        }
    return {
        "id": customer.id,
        "email": customer.email,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "orders_count": len(orders),
        "state": customer.state,
        "total_spent": str(sum((o.total for o in paid), Decimal("0.00"))),
        "last_order_id": last.id if last else None,
        "note": customer.note,
        "verified_email": customer.verified_email,
        "multipass_identifier": None,
        "tax_exempt": False,
        "tags": ", ".join(customer.tags),
        "last_order_name": f"#{last.number}" if last else None,
        "currency": customer.currency,
        "phone": customer.phone,
        "addresses": [a.to_json() for a in customer.addresses],
        "tax_exemptions": [],
        "email_marketing_consent": email_consent,
        "sms_marketing_consent": sms_consent,
        "admin_graphql_api_id": customer.gid,
        "default_address": default.to_json() if default else None,
    }


def order_document(order: Order, customer: Customer | None) -> dict[str, Any]:
    """The REST ``order`` object, with the personal fields Shopify's orders carry."""
    subtotal = order.total - order.shipping_price
    buyer = None
    if customer is not None and not order.redacted:
        buyer = {
            "id": customer.id,
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "phone": customer.phone,
            "state": customer.state,
            "admin_graphql_api_id": customer.gid,
        }
    client = None
    if order.browser_ip or order.user_agent:
        client = {
            "browser_ip": order.browser_ip,
            "user_agent": order.user_agent,
            "accept_language": None,
            "session_hash": None,
        }
    return {
        "id": order.id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order.id}",
        "name": f"#{order.number}",
        "order_number": order.number,
        "email": order.email,
        "contact_email": order.email,
        "phone": order.phone,
        "browser_ip": order.browser_ip,
        "client_details": client,
        "created_at": iso(order.created_at),
        "updated_at": iso(order.closed_at or order.cancelled_at or order.created_at),
        "processed_at": iso(order.created_at),
        "closed_at": iso(order.closed_at),
        "cancelled_at": iso(order.cancelled_at),
        "cancel_reason": "customer" if order.cancelled_at else None,
        "currency": order.currency,
        "subtotal_price": str(subtotal),
        "total_price": str(order.total),
        "total_tax": str((order.total * Decimal("0.2") / Decimal("1.2")).quantize(CENT)),
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "confirmed": True,
        "test": False,
        "tags": ", ".join(order.tags),
        "note": order.note,
        "note_attributes": order.note_attributes,
        "billing_address": order.billing_address,
        "shipping_address": order.shipping_address,
        "customer": buyer,
        "line_items": [
            {
                "id": li.id,
                "title": li.title,
                "name": li.title,
                "quantity": li.quantity,
                "price": str(li.price),
                "sku": li.sku,
                "product_id": li.product_id,
                "variant_id": li.variant_id,
            }
            for li in order.line_items
        ],
        "payment_gateway_names": list(order.gateways),
        "shipping_lines": [
            {
                "id": line.id,
                "title": line.title,
                "code": line.code,
                "source": line.source,
                "price": str(line.price),
            }
            for line in order.shipping_lines
        ],
        "fulfillments": [
            {
                "id": f.id,
                "order_id": order.id,
                "status": f.status,
                "created_at": iso(f.created_at),
                "tracking_company": f.tracking[0].company if f.tracking else None,
                "tracking_number": f.tracking[0].number if f.tracking else None,
                "tracking_numbers": [t.number for t in f.tracking],
                "tracking_urls": [t.url for t in f.tracking if t.url],
            }
            for f in order.fulfillments
        ],
    }


def consent_document(consent: Consent) -> dict[str, Any]:
    return {
        "state": consent.state,
        "opt_in_level": consent.opt_in_level,
        "consent_updated_at": iso(consent.updated_at),
    }
