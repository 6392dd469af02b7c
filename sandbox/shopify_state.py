"""The Shopify emulator's state: one shop's customers, orders and pending erasures.

The records (:mod:`sandbox.shopify_model`) live in memory behind one lock. The methods hold the
shop's rules (search syntax,
validation, "customers with orders cannot be deleted", what an erasure redacts) so that the
HTTP layer (:mod:`sandbox.shopify`) and the GraphQL layer (:mod:`sandbox.shopify_graphql`) only
translate. An erasure completes :attr:`~sandbox.config.EmulatorConfig.async_delay` after the
request: the customer's name, e-mail, phone, addresses and note are redacted and the customer
disappears from the API (search, listing, lookup by id answer as for an unknown customer),
while its orders stay with their facts (number, dates, items, totals) and lose every personal
field. Shopify itself delays erasure while recent orders exist; the emulator does not.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from sandbox.calllog import CallLog
from sandbox.config import EmulatorConfig
from sandbox.credentials import SHOPIFY_SCOPES, SHOPIFY_TOKEN
from sandbox.jobs import DeferredJobs
from sandbox.shopify_access import check_scopes
from sandbox.shopify_model import (
    Address,
    Consent,
    Customer,
    Erasure,
    Order,
    customer_document,
    digits,
    now_utc,
    order_document,
)

EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_PHONE_NOISE = re.compile(r"[\s().-]")
_SEARCH_TERM = re.compile(r'(?:(\w+):)?(?:"([^"]*)"|(\S+))')

#: REST ``email_marketing_consent.state`` ↔ GraphQL ``marketingState``.
CONSENT_STATES = ("subscribed", "not_subscribed", "unsubscribed", "pending", "redacted", "invalid")
OPT_IN_LEVELS = ("single_opt_in", "confirmed_opt_in", "unknown")


class ShopifyValidationError(ValueError):
    """A write Shopify refuses with 422 and ``{"errors": {field: [messages]}}``."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("validation failed: " + ", ".join(sorted(errors)))
        self.errors = errors


class ShopifyState:
    """Every customer and order of one shop, and what happens to them."""

    def __init__(
        self,
        *,
        customers: Iterable[Customer] = (),
        orders: Iterable[Order] = (),
        config: EmulatorConfig | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.calls = CallLog()
        self.jobs = DeferredJobs()
        self.customers: dict[int, Customer] = {c.id: c for c in customers}
        self.orders: dict[int, Order] = {}
        self._orders_of: dict[int, list[int]] = {}
        self.erasures: dict[int, Erasure] = {}
        #: Access tokens the shop accepts and the scopes each carries.
        self.tokens: dict[str, frozenset[str]] = {SHOPIFY_TOKEN: SHOPIFY_SCOPES}
        for order in orders:
            self.add_order(order)
        self._next_id = 9_000_000_000_000

    def new_id(self) -> int:
        """A fresh id for an address created through the API."""
        with self.lock:
            self._next_id += 1
            return self._next_id

    def add_order(self, order: Order) -> None:
        """Store an order and link it to its customer."""
        with self.lock:
            self.orders[order.id] = order
            if order.customer_id is not None:
                self._orders_of.setdefault(order.customer_id, []).append(order.id)

    def grant(self, token: str, scopes: Iterable[str]) -> None:
        """Accept ``token`` with exactly ``scopes``, as for another app installed on the shop.

        Raises ``ValueError`` for a scope handle Shopify does not know.
        """
        with self.lock:
            self.tokens[token] = check_scopes(frozenset(scopes))

    def settle(self) -> None:
        """Complete the erasures whose time has come."""
        with self.lock:
            self.jobs.run_due(self.config.now())

    # --- reading -------------------------------------------------------------------------

    def get(self, customer_id: int) -> Customer | None:
        """The customer, or ``None`` if unknown, deleted or erased."""
        self.settle()
        with self.lock:
            customer = self.customers.get(customer_id)
            return None if customer is None or customer.erased else customer

    def visible(self) -> list[Customer]:
        """Every customer the API still shows, by id."""
        self.settle()
        with self.lock:
            return sorted((c for c in self.customers.values() if not c.erased), key=_by_id)

    def search(self, query: str) -> list[Customer]:
        """Shopify's customer search: ``email:``, ``phone:``, ``id:`` and more, ANDed.

        E-mail and names compare case-insensitively; phones compare by digits, so
        ``+43 660 1234567`` and ``+436601234567`` (or a ``+`` decoded as a space) all match.
        Bare words match part of the name or e-mail.
        """
        terms = [
            ((m.group(1) or "").lower(), m.group(2) if m.group(2) is not None else m.group(3))
            for m in _SEARCH_TERM.finditer(query.strip())
        ]
        return [c for c in self.visible() if all(_matches(c, key, v) for key, v in terms)]

    def orders_of(self, customer_id: int, *, status: str = "open") -> list[Order]:
        """The customer's orders, by id, filtered like ``status=open|closed|cancelled|any``."""
        self.settle()
        with self.lock:
            orders = [self.orders[i] for i in self._orders_of.get(customer_id, [])]
        orders = [o for o in orders if status == "any" or o.status == status]
        return sorted(orders, key=_by_id)

    def erasure_status(self, customer_id: int) -> str:
        """``none``, ``pending``, ``cancelled`` or ``completed``."""
        self.settle()
        with self.lock:
            erasure = self.erasures.get(customer_id)
            return erasure.status if erasure else "none"

    # --- writing ---------------------------------------------------------------------------

    def update(self, customer_id: int, changes: dict[str, Any]) -> Customer | None:
        """Apply a REST ``PUT`` body; ``None`` if the customer is unknown.

        Raises :class:`ShopifyValidationError` for an invalid or taken e-mail or phone, before
        changing anything.
        """
        with self.lock:
            customer = self.get(customer_id)
            if customer is None:
                return None
            errors = self._validate(customer, changes)
            if errors:
                raise ShopifyValidationError(errors)
            for key in ("email", "first_name", "last_name", "note", "verified_email"):
                if key in changes:
                    setattr(customer, key, changes[key])
            if "phone" in changes:
                customer.phone = _normal_phone(changes["phone"])
            if "tags" in changes:
                customer.tags = _tag_list(changes["tags"])
            consent = changes.get("email_marketing_consent")
            if isinstance(consent, dict) and consent.get("state") in CONSENT_STATES:
                customer.email_consent = Consent(
                    consent["state"], consent.get("opt_in_level", "single_opt_in"), now_utc()
                )
            for item in changes.get("addresses") or []:
                if isinstance(item, dict):
                    self._update_address(customer, item)
            customer.updated_at = now_utc()
            return customer

    def _validate(self, customer: Customer, changes: dict[str, Any]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        others = [c for c in self.customers.values() if c.id != customer.id and not c.erased]
        if "email" in changes and changes["email"] is not None:
            email = changes["email"]
            if not isinstance(email, str) or not EMAIL_PATTERN.match(email):
                errors["email"] = ["is invalid"]
            elif any((c.email or "").lower() == email.lower() for c in others):
                errors["email"] = ["has already been taken"]
        if "phone" in changes and changes["phone"] not in (None, ""):
            phone = changes["phone"]
            if not isinstance(phone, str) or not re.fullmatch(
                r"\+?\d{7,15}", _PHONE_NOISE.sub("", phone)
            ):
                errors["phone"] = ["is invalid"]
            elif any(c.phone and digits(c.phone) == digits(phone) for c in others):
                errors["phone"] = ["has already been taken"]
        return errors

    def _update_address(self, customer: Customer, item: dict[str, Any]) -> None:
        fields = set(Address.__dataclass_fields__) - {"id", "customer_id", "default"}
        target = next((a for a in customer.addresses if a.id == item.get("id")), None)
        if target is None:
            target = Address(self.new_id(), customer.id, None, None, None, None, None, None, None)
            customer.addresses.append(target)
        for key in fields & item.keys():
            setattr(target, key, item[key])

    def update_address(
        self, customer_id: int, address_id: int, changes: dict[str, Any], *, make_default: bool
    ) -> Address | None:
        """Change one of a customer's addresses in place; ``None`` if either is unknown."""
        with self.lock:
            customer = self.get(customer_id)
            target = (
                next((a for a in customer.addresses if a.id == address_id), None)
                if customer
                else None
            )
            if customer is None or target is None:
                return None
            self._update_address(customer, {**changes, "id": address_id})
            if make_default:
                for address in customer.addresses:
                    address.default = address is target
            customer.updated_at = now_utc()
            return target

    def delete(self, customer_id: int) -> bool | None:
        """Delete a customer: ``True`` done, ``None`` unknown; orders forbid it.

        Raises :class:`ShopifyValidationError` (422) when the customer has orders: those
        customers can only be erased.
        """
        with self.lock:
            if self.get(customer_id) is None:
                return None
            if self._orders_of.get(customer_id):
                raise ShopifyValidationError(
                    {"base": ["Error deleting customer: customers with orders cannot be deleted"]}
                )
            del self.customers[customer_id]
            return True

    def request_erasure(self, customer_id: int) -> bool:
        """Queue an erasure; ``False`` if the customer does not exist. Idempotent while pending."""
        with self.lock:
            if self.get(customer_id) is None:
                return False
            current = self.erasures.get(customer_id)
            if current is not None and current.status == "pending":
                return True
            erasure = Erasure(customer_id, now_utc())
            due = self.config.now() + self.config.async_delay
            erasure.job = self.jobs.schedule(due, lambda: self._erase(erasure))
            self.erasures[customer_id] = erasure
            return True

    def cancel_erasure(self, customer_id: int) -> str | None:
        """Cancel a pending erasure; an error code (``DOES_NOT_EXIST``...) or ``None``."""
        with self.lock:
            if self.get(customer_id) is None:
                return "DOES_NOT_EXIST"
            erasure = self.erasures.get(customer_id)
            if erasure is None or erasure.status != "pending":
                return "NOT_BEING_ERASED"
            if erasure.job is None or not self.jobs.cancel(erasure.job):
                return "FAILED_TO_CANCEL"
            erasure.status = "cancelled"
            return None

    def _erase(self, erasure: Erasure) -> None:
        erasure.status = "completed"
        customer = self.customers.get(erasure.customer_id)
        if customer is None:
            return
        customer.email = customer.phone = customer.first_name = customer.last_name = None
        customer.note = None
        customer.addresses = []
        customer.tags = []
        customer.email_consent = Consent("redacted", None, now_utc())
        customer.sms_consent = None
        customer.state = "disabled"
        customer.erased = True
        customer.updated_at = now_utc()
        for order_id in self._orders_of.get(customer.id, []):
            _redact_order(self.orders[order_id])

    def set_email_consent(self, customer_id: int, state: str, level: str | None) -> bool:
        """Set e-mail marketing consent (REST state names); ``False`` if unknown."""
        with self.lock:
            customer = self.get(customer_id)
            if customer is None:
                return False
            customer.email_consent = Consent(state, level, now_utc())
            customer.updated_at = now_utc()
            return True

    def change_tags(self, customer_id: int, tags: list[str], *, add: bool) -> bool:
        """Add or remove tags; ``False`` if the customer is unknown."""
        with self.lock:
            customer = self.get(customer_id)
            if customer is None:
                return False
            if add:
                customer.tags += [t for t in tags if t not in customer.tags]
            else:
                customer.tags = [t for t in customer.tags if t not in tags]
            customer.updated_at = now_utc()
            return True

    # --- representation ----------------------------------------------------------------------

    def customer_json(self, customer: Customer) -> dict[str, Any]:
        """The REST ``customer`` object."""
        with self.lock:
            orders = [self.orders[i] for i in self._orders_of.get(customer.id, [])]
        return customer_document(customer, orders)

    def order_json(self, order: Order) -> dict[str, Any]:
        """The REST ``order`` object."""
        with self.lock:
            customer = self.customers.get(order.customer_id or -1)
        return order_document(order, customer)


def _by_id(item: Customer | Order) -> int:
    return item.id


def _matches(customer: Customer, key: str, value: str) -> bool:
    value_lower = value.lower()
    if key == "email":
        return (customer.email or "").lower() == value_lower
    if key == "phone":
        wanted = digits(value)
        return bool(wanted) and digits(customer.phone) == wanted
    if key == "id":
        return str(customer.id) == value
    if key in ("first_name", "last_name"):
        return (getattr(customer, key) or "").lower() == value_lower
    if key in ("tag", "tags"):
        return value_lower in (t.lower() for t in customer.tags)
    if key == "state":
        return customer.state == value_lower
    haystack = " ".join(
        p for p in (customer.first_name, customer.last_name, customer.email) if p
    ).lower()
    return value_lower in haystack


def _normal_phone(phone: Any) -> str | None:
    if not phone:
        return None
    text = _PHONE_NOISE.sub("", str(phone))
    return text


def _tag_list(tags: Any) -> list[str]:
    if isinstance(tags, list):
        return [str(t).strip() for t in tags if str(t).strip()]
    return [t.strip() for t in str(tags or "").split(",") if t.strip()]


def _redact_order(order: Order) -> None:
    """Keep the order's facts, drop everything that identifies the buyer."""
    order.email = order.phone = order.browser_ip = order.user_agent = order.note = None
    order.note_attributes = []
    for attr in ("billing_address", "shipping_address"):
        address = getattr(order, attr)
        if address is not None:
            kept = {k: address.get(k) for k in ("country", "country_code", "province")}
            setattr(order, attr, {**dict.fromkeys(address), **kept})
    order.redacted = True
