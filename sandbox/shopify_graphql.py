"""Shopify's Admin GraphQL, for the operations a data-subject request needs.

Queries ``customer(id:)`` and ``customers(first:, after:, query:)``; mutations
``customerRequestDataErasure``, ``customerCancelDataErasure``,
``customerEmailMarketingConsentUpdate``, ``tagsAdd`` and ``tagsRemove``. Like Shopify, a
document is validated against the (small) schema before anything runs: an unknown field or
operation answers HTTP 200 with ``{"errors": [...]}`` and no side effect. Every executed
document costs points from a :class:`~sandbox.ratelimit.CostBucket` (10 per mutation, 1 per
object plus ``first`` times the node cost for connections) and reports them in
``extensions.cost``; a document that costs more than is available answers ``Throttled``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from sandbox.calllog import CallLog
from sandbox.graphql import (
    Document,
    Field,
    GraphQLError,
    InlineFragment,
    Operation,
    Selection,
    bind_variables,
    parse,
    resolve,
    used_variables,
)
from sandbox.ratelimit import CostBucket
from sandbox.shopify_model import Address, Customer, Order, iso
from sandbox.shopify_schema import Context, query_cost, shape, validate
from sandbox.shopify_state import ShopifyState

Resolver = Callable[[ShopifyState, dict[str, Any], CallLog], Any]


_GID = re.compile(r"^gid://shopify/(\w+)/(\d+)$")


def parse_gid(value: Any, kind: str = "Customer") -> int:
    """The numeric id inside ``gid://shopify/<kind>/<id>``, or a GraphQL error."""
    match = _GID.match(value) if isinstance(value, str) else None
    if match is None or match.group(1) != kind:
        raise GraphQLError(f"Invalid global id '{value}'", code="argumentLiteralsIncompatible")
    return int(match.group(2))


def _user_error(field: list[str], message: str, code: str | None = None) -> dict[str, Any]:
    return {"__typename": "UserError", "field": field, "message": message, "code": code}


def _address_node(address: Address | dict[str, Any] | None, address_id: int = 0) -> Any:
    if address is None:
        return None
    data = address.postal() if isinstance(address, Address) else address
    ident = address.id if isinstance(address, Address) else address_id
    return {
        "__typename": "MailingAddress",
        "id": f"gid://shopify/MailingAddress/{ident}?model_name=CustomerAddress",
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
        "zip": data.get("zip"),
        "phone": data.get("phone"),
    }


def _connection(items: list[Any], args: dict[str, Any], node: Callable[[Any], Any]) -> Any:
    """A cursor connection over ``items`` (objects with an ``id``), by id."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    size = first if first is not None else last
    if not isinstance(size, int) or not 0 <= size <= 250:
        raise GraphQLError("The page size must be between 0 and 250")
    after, before = _cursor_id(args.get("after")), _cursor_id(args.get("before"))
    window = [
        i for i in items if (after is None or i.id > after) and (before is None or i.id < before)
    ]
    page = window[:size] if first is not None else window[max(0, len(window) - size) :]
    edges = [{"__typename": "Edge", "cursor": _cursor(i.id), "node": node(i)} for i in page]
    more = len(window) > len(page)
    return {
        "__typename": "Connection",
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "__typename": "PageInfo",
            "hasNextPage": more if first is not None else before is not None,
            "hasPreviousPage": after is not None if first is not None else more,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _first(args: dict[str, Any]) -> int | None:
    first = args.get("first")
    return first if isinstance(first, int) and first >= 0 else None


def _cursor(ident: int) -> str:
    return base64.urlsafe_b64encode(f"id:{ident}".encode()).decode()


def _cursor_id(cursor: Any) -> int | None:
    if cursor is None:
        return None
    try:
        return int(base64.urlsafe_b64decode(str(cursor).encode()).decode().split(":", 1)[1])
    except (ValueError, IndexError) as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc


def customer_node(state: ShopifyState, customer: Customer) -> dict[str, Any]:
    """The GraphQL ``Customer`` object (connections resolve lazily)."""
    rest = state.customer_json(customer)
    consent = rest["email_marketing_consent"]
    sms = rest["sms_marketing_consent"]

    def upper(value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    orders = state.orders_of(customer.id, status="any")
    return {
        "__typename": "Customer",
        "id": customer.gid,
        "legacyResourceId": str(customer.id),
        "email": customer.email,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": " ".join(p for p in (customer.first_name, customer.last_name) if p)
        or customer.email,
        "phone": customer.phone,
        "note": customer.note,
        "state": customer.state.upper(),
        "tags": list(customer.tags),
        "verifiedEmail": customer.verified_email,
        "createdAt": rest["created_at"],
        "updatedAt": rest["updated_at"],
        "numberOfOrders": str(rest["orders_count"]),
        "amountSpent": {
            "__typename": "MoneyV2",
            "amount": rest["total_spent"],
            "currencyCode": customer.currency,
        },
        "emailMarketingConsent": consent
        and {
            "__typename": "CustomerEmailMarketingConsentState",
            "marketingState": upper(consent["state"]),
            "marketingOptInLevel": upper(consent["opt_in_level"]),
            "consentUpdatedAt": consent["consent_updated_at"],
        },
        "smsMarketingConsent": sms
        and {
            "__typename": "CustomerSmsMarketingConsentState",
            "marketingState": upper(sms["state"]),
            "marketingOptInLevel": upper(sms["opt_in_level"]),
            "consentUpdatedAt": sms["consent_updated_at"],
            "consentCollectedFrom": sms["consent_collected_from"],
        },
        "defaultAddress": _address_node(customer.default_address),
        "addresses": lambda args: [_address_node(a) for a in customer.addresses][: _first(args)],
        "orders": lambda args: _connection(orders, args, lambda o: _order_node(state, o)),
    }


def _order_node(state: ShopifyState, order: Order) -> dict[str, Any]:
    customer = state.get(order.customer_id) if order.customer_id else None
    return {
        "__typename": "Order",
        "id": f"gid://shopify/Order/{order.id}",
        "legacyResourceId": str(order.id),
        "name": f"#{order.number}",
        "email": order.email,
        "phone": order.phone,
        "createdAt": iso(order.created_at),
        "processedAt": iso(order.created_at),
        "closedAt": iso(order.closed_at),
        "cancelledAt": iso(order.cancelled_at),
        "displayFinancialStatus": order.financial_status.upper(),
        "displayFulfillmentStatus": (order.fulfillment_status or "unfulfilled").upper(),
        "note": order.note,
        "clientIp": order.browser_ip,
        "totalPriceSet": {
            "__typename": "MoneyBag",
            "shopMoney": {
                "__typename": "MoneyV2",
                "amount": str(order.total),
                "currencyCode": order.currency,
            },
        },
        "billingAddress": _address_node(order.billing_address, order.id),
        "shippingAddress": _address_node(order.shipping_address, order.id),
        "customAttributes": [
            {"__typename": "Attribute", "key": a["name"], "value": a["value"]}
            for a in order.note_attributes
        ],
        "customer": customer_node(state, customer) if customer and not order.redacted else None,
    }


def _customer(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
    customer = state.get(parse_gid(args.get("id")))
    return customer_node(state, customer) if customer else None


def _customers(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
    query = args.get("query")
    found = state.search(str(query)) if query else state.visible()
    if args.get("reverse"):
        found.reverse()
    return _connection(found, args, lambda c: customer_node(state, c))


def _request_erasure(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
    cid = parse_gid(args.get("customerId"))
    # Shopify's erasure request is idempotent while one is pending: only a newly queued
    # erasure is a side effect.
    already_pending = state.erasure_status(cid) == "pending"
    if not already_pending:
        calls.record_effect("erasure_requested", str(cid))
    payload: dict[str, Any] = {"__typename": "CustomerRequestDataErasurePayload"}
    if not state.request_erasure(cid):
        error = _user_error(["customerId"], "Customer does not exist", "DOES_NOT_EXIST")
        return {**payload, "customerId": None, "userErrors": [error]}
    return {**payload, "customerId": f"gid://shopify/Customer/{cid}", "userErrors": []}


_CANCEL_MESSAGES = {
    "DOES_NOT_EXIST": "Customer does not exist",
    "NOT_BEING_ERASED": "Customer is not being erased",
    "FAILED_TO_CANCEL": "Failed to cancel customer data erasure",
}


def _cancel_erasure(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
    cid = parse_gid(args.get("customerId"))
    calls.record_effect("erasure_cancel_requested", str(cid))
    payload: dict[str, Any] = {"__typename": "CustomerCancelDataErasurePayload"}
    code = state.cancel_erasure(cid)
    if code is not None:
        error = _user_error(["customerId"], _CANCEL_MESSAGES[code], code)
        return {**payload, "customerId": None, "userErrors": [error]}
    return {**payload, "customerId": f"gid://shopify/Customer/{cid}", "userErrors": []}


_MARKETING_STATES = {"SUBSCRIBED", "UNSUBSCRIBED", "PENDING"}
_OPT_IN_LEVELS = {"SINGLE_OPT_IN", "CONFIRMED_OPT_IN", "UNKNOWN"}


def _consent_update(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
    data = args.get("input")
    consent = data.get("emailMarketingConsent") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(consent, dict):
        raise GraphQLError(
            "Argument 'emailMarketingConsent' on InputObject "
            "'CustomerEmailMarketingConsentUpdateInput' is required.",
            code="argumentLiteralsIncompatible",
        )
    cid = parse_gid(data.get("customerId"))
    calls.record_effect("email_consent_updated", str(cid))
    payload: dict[str, Any] = {"__typename": "CustomerEmailMarketingConsentUpdatePayload"}
    marketing = consent.get("marketingState")
    level = consent.get("marketingOptInLevel") or "SINGLE_OPT_IN"
    errors = []
    if marketing not in _MARKETING_STATES:
        errors.append(
            _user_error(
                ["input", "emailMarketingConsent", "marketingState"],
                "Marketing state is not a valid value",
                "INCLUSION",
            )
        )
    if level not in _OPT_IN_LEVELS:
        errors.append(
            _user_error(
                ["input", "emailMarketingConsent", "marketingOptInLevel"],
                "Marketing opt in level is not a valid value",
                "INCLUSION",
            )
        )
    customer = state.get(cid)
    if customer is None:
        errors.append(_user_error(["input", "customerId"], "Customer not found", "INVALID"))
    elif not customer.email:
        errors.append(
            _user_error(["input", "customerId"], "Customer must have an email address", "INVALID")
        )
    if errors or customer is None:
        return {**payload, "customer": None, "userErrors": errors}
    state.set_email_consent(cid, str(marketing).lower(), str(level).lower())
    return {**payload, "customer": customer_node(state, customer), "userErrors": []}


def _tags(*, add: bool) -> Resolver:
    def resolver(state: ShopifyState, args: dict[str, Any], calls: CallLog) -> Any:
        cid = parse_gid(args.get("id"))
        raw = args.get("tags")
        tags = raw if isinstance(raw, list) else str(raw or "").split(",")
        tags = [str(t).strip() for t in tags if str(t).strip()]
        calls.record_effect("tags_added" if add else "tags_removed", str(cid))
        payload = {"__typename": "TagsAddPayload" if add else "TagsRemovePayload"}
        if not state.change_tags(cid, tags, add=add):
            return {**payload, "node": None, "userErrors": [_user_error(["id"], "Not Found")]}
        customer = state.get(cid)
        node = customer_node(state, customer) if customer else None
        return {**payload, "node": node, "userErrors": []}

    return resolver


ROOTS: dict[str, dict[str, Resolver]] = {
    "QueryRoot": {"customer": _customer, "customers": _customers},
    "Mutation": {
        "customerRequestDataErasure": _request_erasure,
        "customerCancelDataErasure": _cancel_erasure,
        "customerEmailMarketingConsentUpdate": _consent_update,
        "tagsAdd": _tags(add=True),
        "tagsRemove": _tags(add=False),
    },
}

THROTTLED = {
    "message": "Throttled",
    "extensions": {
        "code": "THROTTLED",
        "documentation": "https://shopify.dev/api/usage/rate-limits",
    },
}


def execute(
    state: ShopifyState, bucket: CostBucket, calls: CallLog, body: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Run one GraphQL request body; returns the response document and whether throttled."""
    try:
        doc = parse(str(body["query"]))
        operation = _operation(doc, body.get("operationName"))
        root = "QueryRoot" if operation.kind == "query" else "Mutation"
        errors = validate(operation.selections, root, doc, frozenset())
        declared = {v.name for v in operation.variables}
        owner = operation.name or f"anonymous {operation.kind}"
        errors += [
            GraphQLError(
                f"Variable ${name} is used by {owner} but not declared",
                code="variableNotDefined",
            )
            for name in sorted(used_variables(operation.selections, doc.fragments) - declared)
        ]
        if errors:
            return {"errors": [e.to_json() for e in errors]}, False
        given = body.get("variables")
        variables = bind_variables(operation, given if isinstance(given, dict) else None)
    except GraphQLError as exc:
        return {"errors": [exc.to_json()]}, False
    requested = (
        10 * len(_top_fields(operation.selections, doc))
        if root == "Mutation"
        else max(1, query_cost(operation.selections, root, doc))
    )
    if not bucket.spend(requested):
        cost = _cost_extension(requested, 0, bucket)
        return {"errors": [THROTTLED], "extensions": cost}, True
    ctx = Context(doc, variables)
    data: dict[str, Any] = {}
    failures: list[dict[str, Any]] = []
    for sel in _top_fields(operation.selections, doc):
        try:
            value = ROOTS[root][sel.name](state, resolve(sel.arguments, variables), calls)
            data[sel.key] = shape(value, sel.selections, ctx)
        except GraphQLError as exc:
            data[sel.key] = None
            failures.append({**exc.to_json(), "path": [sel.key]})
    result: dict[str, Any] = {"data": data}
    if failures:
        result["errors"] = failures
    result["extensions"] = _cost_extension(requested, requested, bucket)
    return result, False


def _operation(doc: Document, name: Any) -> Operation:
    operation = doc.operation(name if isinstance(name, str) else None)
    if operation.kind not in ("query", "mutation"):
        raise GraphQLError("Subscriptions are not supported")
    return operation


def _top_fields(selections: tuple[Selection, ...], doc: Document) -> list[Field]:
    fields: list[Field] = []
    for sel in selections:
        if isinstance(sel, Field):
            if sel.name != "__typename":
                fields.append(sel)
        elif isinstance(sel, InlineFragment):
            fields += _top_fields(sel.selections, doc)
        else:
            fields += _top_fields(doc.fragments[sel.name].selections, doc)
    return fields


def _cost_extension(requested: int, actual: int, bucket: CostBucket) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": bucket.throttle_status(),
        }
    }
