"""The emulator's records as Shopify's GraphQL objects: customers, addresses, orders and pages.

Each builder returns a dict keyed by schema field name; a field with arguments or a cost (an
order's line items, a customer's orders) is a callable that the executor calls with the
request's :class:`Viewer` and the field's arguments, so nothing is built that was not asked
for. A field a builder leaves out is not emulated: asking for it is an error that says so,
never a silent ``null``. Orders pass the 60-day rule of the viewer's scopes
(:func:`~sandbox.shopify_access.order_visible`) wherever they appear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sandbox.shopify_model import CENT, Address, Consent, Customer, LineItem, Order
from sandbox.shopify_state import EMAIL_PATTERN
from sandbox.shopify_values import Viewer, connection, gid, moment, money, money_bag

_ORDER_TERM = re.compile(r"(\w+):(\S+)")


def address_node(address: Address | dict[str, Any] | None, ident: int = 0) -> Any:
    """A ``MailingAddress`` from a customer's address or an order's copy of one."""
    if address is None:
        return None
    data = address.postal() if isinstance(address, Address) else address
    number = address.id if isinstance(address, Address) else ident
    return {
        "id": f"{gid('MailingAddress', number)}?model_name=CustomerAddress",
        "firstName": data.get("first_name"),
        "lastName": data.get("last_name"),
        "name": data.get("name"),
        "company": data.get("company"),
        "address1": data.get("address1"),
        "address2": data.get("address2"),
        "city": data.get("city"),
        "province": data.get("province"),
        "provinceCode": data.get("province_code"),
        "country": data.get("country"),
        "countryCodeV2": data.get("country_code"),
        "countryCode": data.get("country_code"),
        "zip": data.get("zip"),
        "phone": data.get("phone"),
        "formattedArea": ", ".join(
            p for p in (data.get("city"), data.get("province_code"), data.get("country")) if p
        )
        or None,
        "coordinatesValidated": False,
        "latitude": None,
        "longitude": None,
        "timeZone": None,
    }


def _upper(value: str | None) -> str | None:
    return value.upper() if value else None


def _email_address(customer: Customer) -> dict[str, Any] | None:
    if not customer.email:
        return None
    consent = customer.email_consent
    state = consent.state.upper() if consent.state != "redacted" else "NOT_SUBSCRIBED"
    return {
        "emailAddress": customer.email,
        "marketingState": state,
        "marketingOptInLevel": _upper(consent.opt_in_level),
        "marketingUpdatedAt": moment(consent.updated_at),
        "validFormat": bool(EMAIL_PATTERN.match(customer.email)),
        "openTrackingLevel": "UNKNOWN",
        "marketingUnsubscribeUrl": f"https://shop.example.com/unsubscribe/{customer.id}",
        "openTrackingUrl": f"https://shop.example.com/tracking/{customer.id}",
        "sourceLocation": None,
    }


def _phone_number(customer: Customer) -> dict[str, Any] | None:
    if not customer.phone:
        return None
    consent = customer.sms_consent or Consent("not_subscribed", "single_opt_in", None)
    state = consent.state.upper()
    return {
        "phoneNumber": customer.phone,
        "marketingState": state,
        "marketingOptInLevel": _upper(consent.opt_in_level),
        "marketingUpdatedAt": moment(consent.updated_at),
        "marketingCollectedFrom": "SHOPIFY",
        "sourceLocation": None,
        "smsMarketingConsent": {
            "state": "NEVER_SUBSCRIBED" if state == "NOT_SUBSCRIBED" else state,
            "optInLevel": _upper(consent.opt_in_level),
            "collectedFrom": "SHOPIFY",
            "updatedAt": moment(consent.updated_at),
            "sourceLocation": None,
        },
    }


def customer_node(viewer: Viewer, customer: Customer) -> dict[str, Any]:
    """The ``Customer`` object, deprecated fields included (they still answer)."""
    state = viewer.state
    rest = state.customer_json(customer)
    email, phone = _email_address(customer), _phone_number(customer)

    def orders(viewer: Viewer, **args: Any) -> dict[str, Any]:
        visible = [o for o in state.orders_of(customer.id, status="any") if viewer.sees(o)]
        found = filter_orders(visible, args.get("query"))
        return connection(found, args, lambda o: order_node(viewer, o))

    def last_order(viewer: Viewer, **args: Any) -> Any:
        visible = [o for o in state.orders_of(customer.id, status="any") if viewer.sees(o)]
        latest = max(visible, key=lambda o: o.created_at, default=None)
        return order_node(viewer, latest) if latest else None

    def addresses(viewer: Viewer, **args: Any) -> list[dict[str, Any]]:
        first = args.get("first")
        return [address_node(a) for a in customer.addresses][:first]

    def addresses_v2(viewer: Viewer, **args: Any) -> dict[str, Any]:
        return connection(customer.addresses, args, address_node)

    return {
        "id": customer.gid,
        "legacyResourceId": str(customer.id),
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": " ".join(p for p in (customer.first_name, customer.last_name) if p)
        or customer.email
        or "",
        "email": customer.email,
        "phone": customer.phone,
        "defaultEmailAddress": email,
        "defaultPhoneNumber": phone,
        "emailMarketingConsent": email
        and {
            "marketingState": customer.email_consent.state.upper(),
            "marketingOptInLevel": email["marketingOptInLevel"],
            "consentUpdatedAt": email["marketingUpdatedAt"],
            "sourceLocation": None,
        },
        "smsMarketingConsent": phone
        and {
            "marketingState": phone["marketingState"],
            "marketingOptInLevel": phone["marketingOptInLevel"] or "UNKNOWN",
            "consentUpdatedAt": phone["marketingUpdatedAt"],
            "consentCollectedFrom": "SHOPIFY",
            "sourceLocation": None,
        },
        "note": customer.note,
        "state": customer.state.upper(),
        "tags": list(customer.tags),
        "verifiedEmail": customer.verified_email,
        "validEmailAddress": bool(email and email["validFormat"]),
        "createdAt": moment(customer.created_at),
        "updatedAt": moment(customer.updated_at),
        "numberOfOrders": str(rest["orders_count"]),
        "amountSpent": money(Decimal(rest["total_spent"]), customer.currency),
        "locale": "de" if customer.currency == "EUR" else "en",
        "taxExempt": False,
        "taxExemptions": [],
        "dataSaleOptOut": False,
        "canDelete": not rest["orders_count"],
        "multipassIdentifier": None,
        "defaultAddress": address_node(customer.default_address),
        "addresses": addresses,
        "addressesV2": addresses_v2,
        "orders": orders,
        "lastOrder": last_order,
    }


def filter_orders(orders: Sequence[Order], query: object) -> list[Order]:
    """Orders matching a search query's ``id:``, ``name:``, ``email:``, ``customer_id:`` and
    ``status:`` terms (ANDed; other terms are ignored, as Shopify ignores unknown filters)."""
    terms = _ORDER_TERM.findall(str(query or ""))

    def matches(order: Order, key: str, value: str) -> bool:
        value = value.strip("'\"")
        if key == "id":
            return str(order.id) == value
        if key == "name":
            return f"#{order.number}" == value or str(order.number) == value.lstrip("#")
        if key == "email":
            return (order.email or "").lower() == value.lower()
        if key == "customer_id":
            return str(order.customer_id) == value
        if key == "status":
            return value == "any" or order.status == value
        return True

    return [o for o in orders if all(matches(o, k.lower(), v) for k, v in terms)]


def _line_item(item: LineItem, currency: str) -> dict[str, Any]:
    return {
        "id": gid("LineItem", item.id),
        "title": item.title,
        "name": item.title,
        "quantity": item.quantity,
        "currentQuantity": item.quantity,
        "sku": item.sku,
        "variantTitle": None,
        "vendor": "Lunexxa",
        "requiresShipping": True,
        "taxable": True,
        "isGiftCard": item.title.startswith("Gift Voucher"),
        "customAttributes": [],
        "originalUnitPriceSet": money_bag(item.price, currency),
        "discountedUnitPriceSet": money_bag(item.price, currency),
        "originalTotalSet": money_bag(item.price * item.quantity, currency),
        "discountedTotalSet": money_bag(item.price * item.quantity, currency),
    }


def order_node(viewer: Viewer, order: Order) -> dict[str, Any]:
    """The ``Order`` object with its line items, shipping lines and fulfilments."""
    state, currency = viewer.state, order.currency
    customer = state.get(order.customer_id) if order.customer_id else None
    tax = (order.total * Decimal("0.2") / Decimal("1.2")).quantize(CENT)

    def line_items(viewer: Viewer, **args: Any) -> dict[str, Any]:
        return connection(order.line_items, args, lambda i: _line_item(i, currency))

    def shipping_line(line: Any) -> dict[str, Any]:
        return {
            "id": gid("ShippingLine", line.id),
            "title": line.title,
            "code": line.code,
            "source": line.source,
            "carrierIdentifier": None,
            "custom": False,
            "isRemoved": False,
            "phone": None,
            "deliveryCategory": None,
            "originalPriceSet": money_bag(line.price, currency),
            "discountedPriceSet": money_bag(line.price, currency),
            "currentDiscountedPriceSet": money_bag(line.price, currency),
        }

    def shipping_lines(viewer: Viewer, **args: Any) -> dict[str, Any]:
        return connection(order.shipping_lines, args, shipping_line)

    def fulfillments(viewer: Viewer, **args: Any) -> list[dict[str, Any]]:
        first = args.get("first")
        return [
            {
                "id": gid("Fulfillment", f.id),
                "legacyResourceId": str(f.id),
                "name": f"#{order.number}-F{n}",
                "status": f.status.upper(),
                "createdAt": moment(f.created_at),
                "updatedAt": moment(f.created_at),
                "trackingInfo": lambda viewer, f=f, **a: [
                    {"company": t.company, "number": t.number, "url": t.url} for t in f.tracking
                ][: a.get("first")],
            }
            for n, f in enumerate(order.fulfillments, start=1)
        ][:first]

    return {
        "id": gid("Order", order.id),
        "legacyResourceId": str(order.id),
        "name": f"#{order.number}",
        "email": order.email,
        "phone": order.phone,
        "createdAt": moment(order.created_at),
        "processedAt": moment(order.created_at),
        "updatedAt": moment(order.closed_at or order.cancelled_at or order.created_at),
        "closedAt": moment(order.closed_at),
        "cancelledAt": moment(order.cancelled_at),
        "cancelReason": "CUSTOMER" if order.cancelled_at else None,
        "closed": order.closed_at is not None,
        "confirmed": True,
        "test": False,
        "currencyCode": currency,
        "displayFinancialStatus": order.financial_status.upper(),
        "displayFulfillmentStatus": (order.fulfillment_status or "unfulfilled").upper(),
        "note": order.note,
        "clientIp": order.browser_ip,
        "customerLocale": None,
        "poNumber": None,
        "tags": list(order.tags),
        "totalPriceSet": money_bag(order.total, currency),
        "subtotalPriceSet": money_bag(order.total - order.shipping_price, currency),
        "totalShippingPriceSet": money_bag(order.shipping_price, currency),
        "totalTaxSet": money_bag(tax, currency),
        "billingAddress": address_node(order.billing_address, order.id),
        "shippingAddress": address_node(order.shipping_address, order.id),
        "customAttributes": [
            {"key": a["name"], "value": a["value"]} for a in order.note_attributes
        ],
        "customer": customer_node(viewer, customer) if customer and not order.redacted else None,
        "paymentGatewayNames": list(order.gateways),
        "shippingLine": shipping_line(order.shipping_lines[0]) if order.shipping_lines else None,
        "shippingLines": shipping_lines,
        "fulfillments": fulfillments,
        "lineItems": line_items,
    }
