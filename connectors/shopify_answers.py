"""Reading the Shopify Admin API's GraphQL answers for the connector.

:func:`check_answer` turns an answer's top-level ``errors`` into the connector's exceptions
(``THROTTLED`` retried after the time Shopify's figures say the points take to come back,
``ACCESS_DENIED`` an :class:`~connectors.errors.AuthError` naming the missing scope),
:func:`user_errors` a mutation's ``userErrors`` into :class:`~connectors.errors.ValidationFailed`,
the ``*_record`` functions turn GraphQL objects into the records of an export, with Shopify's
own field names (machine-readable, as Art. 20 asks), and :func:`corrections` works out what a
rectification has to change on a customer as Shopify holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from connectors.base import ADDRESS_FIELDS, Changes
from connectors.errors import (
    AuthError,
    PermanentError,
    ProtocolError,
    TransientError,
    Unsupported,
    ValidationFailed,
)
from connectors.responses import decode_json
from dsar.evidence import Trace

NAME = "shopify"
#: What an export lacks when the token lacks a scope.
MISSING_ALL_ORDERS = (
    "orders older than 60 days: the access token lacks the read_all_orders scope, so Shopify "
    "shows only the last 60 days' orders"
)
MISSING_ORDERS = "orders: the access token lacks the read_orders scope"

#: Canonical field → ``customerUpdate`` input field.
ACCOUNT_INPUT = {
    "email": "email",
    "first_name": "firstName",
    "last_name": "lastName",
    "phone": "phone",
}
#: Canonical address field → ``MailingAddressInput`` field (and the ``MailingAddress`` field
#: holding the current value).
ADDRESS_INPUT = {
    "company": ("company", "company"),
    "address1": ("address1", "address1"),
    "address2": ("address2", "address2"),
    "city": ("city", "city"),
    "zip": ("zip", "zip"),
    "province": ("provinceCode", "provinceCode"),
    "country": ("countryCode", "countryCodeV2"),
}


def throttle_status(body: dict[str, Any]) -> dict[str, float] | None:
    """``extensions.cost.throttleStatus`` as numbers, or ``None`` when absent or unreadable."""
    status = dict_of(dict_of(dict_of(body.get("extensions")).get("cost")).get("throttleStatus"))
    try:
        return {
            "maximum": float(status["maximumAvailable"]),
            "available": float(status["currentlyAvailable"]),
            "restore_rate": float(status["restoreRate"]),
        }
    except (KeyError, TypeError, ValueError):
        return None


def _throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the query's requested cost is available again."""
    status = throttle_status(body)
    cost = dict_of(dict_of(body.get("extensions")).get("cost")).get("requestedQueryCost")
    if status is None or not isinstance(cost, int | float) or status["restore_rate"] <= 0:
        return None
    wait = (float(cost) - status["available"]) / status["restore_rate"]
    return wait if wait > 0 else None


def read_answer(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or a ProtocolError."""
    body = decode_json(response, processor=NAME)
    if not isinstance(body, dict):
        raise ProtocolError("GraphQL answer is not an object", processor=NAME, status=200)
    return body


def check_answer(body: dict[str, Any]) -> None:
    """Raise for top-level GraphQL ``errors``: THROTTLED is a retryable TransientError,
    ACCESS_DENIED an AuthError naming the scope, anything else a PermanentError."""
    errors = body.get("errors")
    if not errors:
        if not isinstance(body.get("data"), dict):
            raise ProtocolError("GraphQL answer without data", processor=NAME, status=200)
        return
    items = [dict_of(e) for e in errors] if isinstance(errors, list) else [{"message": str(errors)}]
    codes = {str(dict_of(e.get("extensions")).get("code") or "") for e in items}
    message = "; ".join(str(e.get("message") or "") for e in items)
    if "THROTTLED" in codes:
        raise TransientError(
            message, processor=NAME, status=200, retry_after=_throttle_wait(body), replay_safe=True
        )
    if codes & {"ACCESS_DENIED", "UNAUTHORIZED"}:
        raise AuthError(message, processor=NAME, status=200)
    raise PermanentError(message or "GraphQL error", processor=NAME, status=200)


def _money(bag: object) -> dict[str, Any] | None:
    shop = dict_of(dict_of(bag).get("shopMoney"))
    return {"amount": shop.get("amount"), "currency": shop.get("currencyCode")} if shop else None


def address_record(address: dict[str, Any]) -> dict[str, Any]:
    """A postal address as the export shows it."""
    return {k: v for k, v in address.items() if k != "__typename"}


def account_record(customer: dict[str, Any]) -> dict[str, Any]:
    """The customer account: identity, contact data and the account's facts."""
    email = dict_of(customer.get("defaultEmailAddress"))
    phone = dict_of(customer.get("defaultPhoneNumber"))
    skip = {"defaultEmailAddress", "defaultPhoneNumber", "addressesV2", "amountSpent"}
    return {
        "email": email.get("emailAddress"),
        "phone": phone.get("phoneNumber"),
        **{k: v for k, v in customer.items() if k not in skip},
        "amountSpent": _money({"shopMoney": customer.get("amountSpent")}),
    }


def consent_record(customer: dict[str, Any]) -> dict[str, Any]:
    """E-mail and SMS marketing consent."""
    email = dict_of(customer.get("defaultEmailAddress"))
    phone = dict_of(customer.get("defaultPhoneNumber"))
    return {
        "customer_id": customer.get("id"),
        "email_marketing": {k: v for k, v in email.items() if k != "emailAddress"} or None,
        "sms_marketing": phone.get("smsMarketingConsent"),
    }


def order_record(order: dict[str, Any], line_items: list[dict[str, Any]]) -> dict[str, Any]:
    """An order with its line items, shipping lines, payment gateways and fulfilments."""
    moneys = ("totalPriceSet", "subtotalPriceSet", "totalShippingPriceSet", "totalTaxSet")
    record = {k: v for k, v in order.items() if k not in (*moneys, "shippingLines", "lineItems")}
    for key in moneys:
        record[key.removesuffix("Set")] = _money(order.get(key))
    record["shippingLines"] = [
        {**{k: v for k, v in line.items() if k != "originalPriceSet"},
         "price": _money(line.get("originalPriceSet"))}
        for line in _nodes(order.get("shippingLines"))
    ]  # fmt: skip
    record["lineItems"] = [
        {**{k: v for k, v in item.items() if k != "originalUnitPriceSet"},
         "unitPrice": _money(item.get("originalUnitPriceSet"))}
        for item in line_items
    ]  # fmt: skip
    return record


def page(connection: object) -> tuple[list[dict[str, Any]], str | None]:
    """A connection's nodes and the cursor of the next page (``None`` on the last)."""
    info = dict_of(dict_of(connection).get("pageInfo"))
    more = info.get("hasNextPage") is True
    cursor = info.get("endCursor") if more else None
    if more and not isinstance(cursor, str):
        raise ProtocolError("a page says there is more but gives no cursor", processor=NAME)
    return _nodes(connection), cursor


def _nodes(connection: object) -> list[dict[str, Any]]:
    nodes = dict_of(connection).get("nodes")
    return [dict_of(n) for n in nodes] if isinstance(nodes, list) else []


def dict_of(value: object) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (absent or malformed parts)."""
    return value if isinstance(value, dict) else {}


def user_errors(data: dict[str, Any], field: str) -> list[dict[str, Any]]:
    payload = data.get(field)
    if not isinstance(payload, dict):
        raise ProtocolError(f"GraphQL answer lacks {field!r}", processor=NAME, status=200)
    return [dict_of(e) for e in payload.get("userErrors") or []]


def raise_user_errors(errors: list[dict[str, Any]]) -> None:
    if errors:
        message = "; ".join(f"{e.get('code') or 'error'}: {e.get('message')}" for e in errors)
        raise ValidationFailed(message, processor=NAME, status=200)


@dataclass(frozen=True)
class Corrections:
    """What a rectification changes on one customer: ``customerUpdate`` input fields,
    ``MailingAddressInput`` fields for the default address, and the canonical fields changed.
    ``lacks_address`` when address fields were asked for but the customer has no address."""

    account: dict[str, str]
    address: dict[str, str]
    fields: frozenset[str]
    lacks_address: bool


def wanted_changes(changes: Changes) -> dict[str, str]:
    """The canonical changes as strings; fields Shopify cannot hold raise Unsupported.

    A country is an ISO 3166-1 alpha-2 code (Shopify's ``CountryCode``).
    """
    unknown = set(changes) - set(ACCOUNT_INPUT) - ADDRESS_FIELDS
    if unknown:
        raise Unsupported(f"cannot rectify fields {sorted(unknown)}", processor=NAME)
    wanted = {k: str(v) for k, v in changes.items()}
    if "country" in wanted:
        wanted["country"] = _country_code(wanted["country"])
    return wanted


def corrections(customer: dict[str, Any], wanted: dict[str, str]) -> Corrections:
    """Only the fields whose value differs, so that repeating a rectification sends nothing."""
    account = {
        ACCOUNT_INPUT[k]: v
        for k, v in wanted.items()
        if k in ACCOUNT_INPUT and _current(customer, k) != v
    }
    address = dict_of(customer.get("defaultAddress"))
    address_wanted = {k: v for k, v in wanted.items() if k in ADDRESS_INPUT}
    moved = {
        ADDRESS_INPUT[k][0]: v
        for k, v in address_wanted.items()
        if address and address.get(ADDRESS_INPUT[k][1]) != v
    }
    fields = {k for k in wanted if ACCOUNT_INPUT.get(k) in account}
    fields |= {k for k in address_wanted if ADDRESS_INPUT[k][0] in moved}
    return Corrections(account, moved, frozenset(fields), bool(address_wanted) and not address)


def _current(customer: dict[str, Any], field: str) -> object:
    """The customer's current value of a canonical account field."""
    if field == "email":
        return dict_of(customer.get("defaultEmailAddress")).get("emailAddress")
    if field == "phone":
        return dict_of(customer.get("defaultPhoneNumber")).get("phoneNumber")
    return customer.get(ACCOUNT_INPUT[field])


def _country_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise Unsupported(
            "Shopify takes a country as an ISO 3166-1 alpha-2 code (e.g. AT)", processor=NAME
        )
    return code


def gid(customer_id: str) -> str:
    text = str(customer_id)
    return text if text.startswith("gid://") else f"gid://shopify/Customer/{text}"


def number(customer: dict[str, Any]) -> str:
    """The numeric id inside the customer's global id."""
    return str(customer.get("legacyResourceId") or str(customer["id"]).rsplit("/", 1)[-1])


def quoted(value: str) -> str:
    """A search value in double quotes, so that ``+``, ``@`` and spaces stay one term."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tags(customer: dict[str, Any]) -> set[str]:
    tags = customer.get("tags")
    return {str(t).strip() for t in tags if str(t).strip()} if isinstance(tags, list) else set()


def redacted(customer: dict[str, Any]) -> bool:
    """Shopify keeps a redacted customer's id but no contact data or name."""
    contact = (customer.get("defaultEmailAddress"), customer.get("defaultPhoneNumber"))
    return not any(contact) and not customer.get("firstName") and not customer.get("lastName")


def digits(value: object) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def missing_for(scopes: frozenset[str]) -> tuple[str, ...]:
    """What an export by a token with ``scopes`` leaves out, in words for the answer."""
    if "read_orders" not in scopes:
        return (MISSING_ORDERS,)
    if "read_all_orders" not in scopes:
        return (MISSING_ALL_ORDERS,)
    return ()


def order_traces(order: dict[str, Any]) -> list[Trace]:
    """The traces one order leaves: its payment gateways, carriers and checkout address."""
    source = f"order {order.get('name') or '(unnamed)'}"
    found = [
        Trace("payment_gateway", str(g), source)
        for g in order.get("paymentGatewayNames") or []
        if isinstance(g, str) and g.strip()
    ]
    for fulfilment in order.get("fulfillments") or []:
        for tracking in dict_of(fulfilment).get("trackingInfo") or []:
            company = dict_of(tracking).get("company")
            if isinstance(company, str) and company.strip():
                found.append(Trace("carrier", company.strip(), source))
    if order.get("shippingAddress") or order.get("billingAddress"):
        found.append(Trace("checkout_address", "address", source))
    return found
