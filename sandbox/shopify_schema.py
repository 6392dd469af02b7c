"""The schema of the Shopify GraphQL subset the emulator answers, and what hangs on it.

Types and their fields (with accepted and required arguments), validation of a document
before anything runs (Shopify answers an unknown field with an error and runs nothing), the
cost of a query in Shopify's points, and the shaping of resolved objects to a selection
(aliases, ``__typename``, fragments, lazily resolved fields with arguments).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.graphql import (
    Document,
    Field,
    FragmentSpread,
    GraphQLError,
    InlineFragment,
    Selection,
    resolve,
)


@dataclass(frozen=True)
class FieldDef:
    """A schema field: its type as written, the arguments it takes and those it requires."""

    type: str
    args: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


def _leaves(*names: str) -> dict[str, FieldDef]:
    return {name: FieldDef("String") for name in names}


_USER_ERROR = {**_leaves("message", "code"), "field": FieldDef("[String]")}
_CONNECTION_ARGS = ("first", "after", "last", "before", "query", "reverse", "sortKey")

SCHEMA: dict[str, dict[str, FieldDef]] = {
    "QueryRoot": {
        "customer": FieldDef("Customer", ("id",), ("id",)),
        "customers": FieldDef("CustomerConnection", _CONNECTION_ARGS),
    },
    "Mutation": {
        "customerRequestDataErasure": FieldDef(
            "CustomerRequestDataErasurePayload", ("customerId",), ("customerId",)
        ),
        "customerCancelDataErasure": FieldDef(
            "CustomerCancelDataErasurePayload", ("customerId",), ("customerId",)
        ),
        "customerEmailMarketingConsentUpdate": FieldDef(
            "CustomerEmailMarketingConsentUpdatePayload", ("input",), ("input",)
        ),
        "tagsAdd": FieldDef("TagsAddPayload", ("id", "tags"), ("id", "tags")),
        "tagsRemove": FieldDef("TagsRemovePayload", ("id", "tags"), ("id", "tags")),
    },
    "CustomerRequestDataErasurePayload": {
        "customerId": FieldDef("ID"),
        "userErrors": FieldDef("[UserError]"),
    },
    "CustomerCancelDataErasurePayload": {
        "customerId": FieldDef("ID"),
        "userErrors": FieldDef("[UserError]"),
    },
    "CustomerEmailMarketingConsentUpdatePayload": {
        "customer": FieldDef("Customer"),
        "userErrors": FieldDef("[UserError]"),
    },
    "TagsAddPayload": {"node": FieldDef("Node"), "userErrors": FieldDef("[UserError]")},
    "TagsRemovePayload": {"node": FieldDef("Node"), "userErrors": FieldDef("[UserError]")},
    "UserError": _USER_ERROR,
    "Node": {"id": FieldDef("ID")},
    "Customer": {
        **_leaves(
            "id",
            "legacyResourceId",
            "email",
            "firstName",
            "lastName",
            "displayName",
            "phone",
            "note",
            "state",
            "verifiedEmail",
            "createdAt",
            "updatedAt",
            "numberOfOrders",
        ),
        "tags": FieldDef("[String]"),
        "amountSpent": FieldDef("MoneyV2"),
        "emailMarketingConsent": FieldDef("CustomerEmailMarketingConsentState"),
        "smsMarketingConsent": FieldDef("CustomerSmsMarketingConsentState"),
        "defaultAddress": FieldDef("MailingAddress"),
        "addresses": FieldDef("[MailingAddress]", ("first",)),
        "orders": FieldDef("OrderConnection", _CONNECTION_ARGS),
    },
    "CustomerEmailMarketingConsentState": _leaves(
        "marketingState", "marketingOptInLevel", "consentUpdatedAt"
    ),
    "CustomerSmsMarketingConsentState": _leaves(
        "marketingState", "marketingOptInLevel", "consentUpdatedAt", "consentCollectedFrom"
    ),
    "MoneyV2": _leaves("amount", "currencyCode"),
    "MoneyBag": {"shopMoney": FieldDef("MoneyV2")},
    "MailingAddress": _leaves(
        "id",
        "firstName",
        "lastName",
        "name",
        "company",
        "address1",
        "address2",
        "city",
        "province",
        "provinceCode",
        "country",
        "countryCodeV2",
        "zip",
        "phone",
    ),
    "Attribute": _leaves("key", "value"),
    "Order": {
        **_leaves(
            "id",
            "legacyResourceId",
            "name",
            "email",
            "phone",
            "createdAt",
            "processedAt",
            "closedAt",
            "cancelledAt",
            "displayFinancialStatus",
            "displayFulfillmentStatus",
            "note",
            "clientIp",
        ),
        "totalPriceSet": FieldDef("MoneyBag"),
        "billingAddress": FieldDef("MailingAddress"),
        "shippingAddress": FieldDef("MailingAddress"),
        "customAttributes": FieldDef("[Attribute]"),
        "customer": FieldDef("Customer"),
    },
    "PageInfo": _leaves("hasNextPage", "hasPreviousPage", "startCursor", "endCursor"),
    "CustomerConnection": {
        "edges": FieldDef("[CustomerEdge]"),
        "nodes": FieldDef("[Customer]"),
        "pageInfo": FieldDef("PageInfo"),
    },
    "CustomerEdge": {"cursor": FieldDef("String"), "node": FieldDef("Customer")},
    "OrderConnection": {
        "edges": FieldDef("[OrderEdge]"),
        "nodes": FieldDef("[Order]"),
        "pageInfo": FieldDef("PageInfo"),
    },
    "OrderEdge": {"cursor": FieldDef("String"), "node": FieldDef("Order")},
}

#: Types a fragment on an interface type may narrow to.
POSSIBLE = {"Node": {"Node", "Customer", "Order"}}


def _base(type_name: str) -> str:
    return type_name.strip("[]!")


def validate(
    selections: tuple[Selection, ...], type_name: str, doc: Document, seen: frozenset[str]
) -> list[GraphQLError]:
    """Every error in ``selections`` on ``type_name``: unknown fields, arguments and fragments,
    missing required arguments, objects without and scalars with a sub-selection."""
    errors: list[GraphQLError] = []
    fields = SCHEMA[type_name]
    for sel in selections:
        if isinstance(sel, InlineFragment):
            cond = sel.type_condition or type_name
            if cond not in SCHEMA:
                errors.append(
                    GraphQLError(f"No such type {cond}, so it can't be a fragment condition")
                )
            else:
                errors += validate(sel.selections, cond, doc, seen)
            continue
        if isinstance(sel, FragmentSpread):
            fragment = doc.fragments.get(sel.name)
            if fragment is None:
                errors.append(
                    GraphQLError(
                        f"Fragment {sel.name} was used, but not defined",
                        line=sel.line,
                        column=sel.column,
                    )
                )
            elif sel.name not in seen and fragment.type_condition in SCHEMA:
                errors += validate(
                    fragment.selections, fragment.type_condition, doc, seen | {sel.name}
                )
            continue
        errors += _validate_field(sel, type_name, fields, doc, seen)
    return errors


def _validate_field(
    sel: Field, type_name: str, fields: dict[str, FieldDef], doc: Document, seen: frozenset[str]
) -> list[GraphQLError]:
    at = {"line": sel.line, "column": sel.column}
    if sel.name == "__typename":
        return []
    definition = fields.get(sel.name)
    if definition is None:
        message = f"Field '{sel.name}' doesn't exist on type '{type_name}'"
        return [GraphQLError(message, code="undefinedField", **at)]
    errors = [
        GraphQLError(
            f"Field '{sel.name}' doesn't accept argument '{arg}'", code="argumentNotAccepted", **at
        )
        for arg in sel.arguments
        if arg not in definition.args
    ]
    missing = [arg for arg in definition.required if arg not in sel.arguments]
    if missing:
        errors.append(
            GraphQLError(
                f"Field '{sel.name}' is missing required arguments: {', '.join(missing)}",
                code="missingRequiredArguments",
                **at,
            )
        )
    target = _base(definition.type)
    if target in SCHEMA and not sel.selections:
        errors.append(
            GraphQLError(
                f"Field must have selections (field '{sel.name}' returns {target} but has no "
                f"selections. Did you mean '{sel.name} {{ ... }}'?)",
                code="selectionMismatch",
                **at,
            )
        )
    elif target not in SCHEMA and sel.selections:
        errors.append(
            GraphQLError(
                f"Selections can't be made on scalars (field '{sel.name}' returns {target} but has "
                "selections)",
                code="selectionMismatch",
                **at,
            )
        )
    elif sel.selections:
        errors += validate(sel.selections, target, doc, seen)
    return errors


def query_cost(
    selections: tuple[Selection, ...], type_name: str, doc: Document, depth: int = 0
) -> int:
    """Shopify-style points: 1 per object, ``2 + first × node`` per connection, scalars free."""
    if depth > 10:
        return 0
    total = 0
    for sel in selections:
        if isinstance(sel, InlineFragment):
            total += query_cost(sel.selections, sel.type_condition or type_name, doc, depth + 1)
        elif isinstance(sel, FragmentSpread):
            fragment = doc.fragments[sel.name]
            total += query_cost(fragment.selections, fragment.type_condition, doc, depth + 1)
        elif sel.name != "__typename":
            target = _base(SCHEMA[type_name][sel.name].type)
            if target not in SCHEMA:
                continue
            inner = query_cost(sel.selections, target, doc, depth + 1)
            first = sel.arguments.get("first")
            size = first if isinstance(first, int) else 10
            total += 2 + size * inner if target.endswith("Connection") else 1 + inner
    return total


def shape(value: Any, selections: tuple[Selection, ...], ctx: Context) -> Any:
    """``value`` (resolved dicts, lists, callables for fields with arguments) cut to the
    selection, keyed by alias, with fragments applied where their type condition matches."""
    if value is None or not selections:
        return value
    if isinstance(value, list):
        return [shape(item, selections, ctx) for item in value]
    out: dict[str, Any] = {}
    for sel in selections:
        if isinstance(sel, Field):
            if sel.name == "__typename":
                out[sel.key] = value["__typename"]
                continue
            raw = value.get(sel.name)
            if callable(raw):
                raw = raw(resolve(sel.arguments, ctx.variables))
            out[sel.key] = shape(raw, sel.selections, ctx)
            continue
        if isinstance(sel, InlineFragment):
            cond, inner = sel.type_condition, sel.selections
        else:
            fragment = ctx.doc.fragments[sel.name]
            cond, inner = fragment.type_condition, fragment.selections
        if (
            cond is None
            or cond == value["__typename"]
            or value["__typename"] in POSSIBLE.get(cond, ())
        ):
            out.update(shape(value, inner, ctx))
    return out


@dataclass
class Context:
    """What shaping needs besides the value: the document (fragments) and the variables."""

    doc: Document
    variables: dict[str, Any]
