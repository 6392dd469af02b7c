"""Shopify's Admin GraphQL endpoint: check, price, run and answer one request.

A request is checked against the schema of the version it is served by
(:mod:`sandbox.shopify_contract`); an invalid one is answered with Shopify's errors and HTTP 200,
and nothing runs. A valid one is priced (:mod:`sandbox.shopify_cost`): above the single-query
limit it is refused (``MAX_COST_EXCEEDED``); when the shop's bucket lacks the points it is
answered ``THROTTLED`` with the bucket's state; otherwise graphql-core executes it over the
emulator's records, the actual cost is charged (the rest of the requested points go back) and
``extensions.cost`` reports both figures and the bucket. Fields outside the token's scopes are
``ACCESS_DENIED``; a field the emulator does not model is an error that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo, execute_sync

from sandbox.calllog import CallLog
from sandbox.ratelimit import CostBucket
from sandbox.shopify_access import FIELD_SCOPES, KNOWN_SCOPES, access_denied
from sandbox.shopify_contract import check, error_dict, load_schema
from sandbox.shopify_cost import MAX_QUERY_COST, Costing
from sandbox.shopify_mutations import MUTATIONS
from sandbox.shopify_nodes import customer_node, filter_orders, order_node
from sandbox.shopify_state import ShopifyState
from sandbox.shopify_values import Viewer, connection, parse_gid

RATE_LIMITS = "https://shopify.dev/api/usage/rate-limits"
THROTTLED = {
    "message": "Throttled",
    "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS},
}

Resolver = Callable[..., Any]


def _customer(viewer: Viewer, **args: Any) -> Any:
    cid = parse_gid(args["id"], "Customer")
    customer = viewer.state.get(cid) if cid is not None else None
    return customer_node(viewer, customer) if customer else None


def _customers(viewer: Viewer, **args: Any) -> Any:
    query = args.get("query")
    found = viewer.state.search(str(query)) if query else viewer.state.visible()
    return connection(found, args, lambda c: customer_node(viewer, c))


def _order(viewer: Viewer, **args: Any) -> Any:
    oid = parse_gid(args["id"], "Order")
    order = viewer.state.orders.get(oid) if oid is not None else None
    return order_node(viewer, order) if order and viewer.sees(order) else None


def _orders(viewer: Viewer, **args: Any) -> Any:
    with viewer.state.lock:
        every = sorted(viewer.state.orders.values(), key=lambda o: o.id)
    visible = [o for o in every if viewer.sees(o)]
    found = filter_orders(visible, args.get("query"))
    return connection(found, args, lambda o: order_node(viewer, o))


def _installation(viewer: Viewer, **args: Any) -> Any:
    return {
        "id": "gid://shopify/AppInstallation/1",
        "accessScopes": [
            {"handle": handle, "description": KNOWN_SCOPES.get(handle, handle)}
            for handle in sorted(viewer.scopes)
        ],
    }


ROOTS: dict[tuple[str, str], Resolver] = {
    ("QueryRoot", "customer"): _customer,
    ("QueryRoot", "customers"): _customers,
    ("QueryRoot", "order"): _order,
    ("QueryRoot", "orders"): _orders,
    ("QueryRoot", "currentAppInstallation"): _installation,
    **{("Mutation", name): mutation for name, mutation in MUTATIONS.items()},
}


def _not_emulated(parent: str, field: str) -> GraphQLError:
    return GraphQLError(
        f"{parent}.{field} is not emulated by the sandbox",
        extensions={"code": "NOT_EMULATED"},
    )


def resolve_field(source: Any, info: GraphQLResolveInfo[Viewer], **args: Any) -> Any:
    """Every field's resolver: scopes first, then the root resolver or the object's value."""
    viewer = info.context
    parent, name = info.parent_type.name, info.field_name
    scope = FIELD_SCOPES.get((parent, name))
    if scope is not None and scope not in viewer.scopes:
        raise access_denied(name, scope)
    if source is None:
        resolver = ROOTS.get((parent, name))
        if resolver is None:
            raise _not_emulated(parent, name)
        return resolver(viewer, **args)
    if not isinstance(source, dict) or name not in source:
        raise _not_emulated(parent, name)
    value = source[name]
    return value(viewer, **args) if callable(value) else value


def _cost(requested: int, actual: int | None, bucket: CostBucket) -> dict[str, Any]:
    return {
        "cost": {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": bucket.throttle_status(),
        }
    }


def _too_costly(cost: int) -> dict[str, Any]:
    return {
        "message": f"Query cost is {cost}, which exceeds the single query max cost limit "
        f"({MAX_QUERY_COST}).",
        "extensions": {
            "code": "MAX_COST_EXCEEDED",
            "cost": cost,
            "maxCost": MAX_QUERY_COST,
            "documentation": RATE_LIMITS,
        },
    }


def execute(
    state: ShopifyState,
    bucket: CostBucket,
    calls: CallLog,
    body: dict[str, Any],
    *,
    version: str,
    scopes: frozenset[str],
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """Answer one GraphQL request body; returns the response document and whether throttled."""
    schema = load_schema(version)
    given = body.get("variables")
    variables = given if isinstance(given, dict) else {}
    name = body.get("operationName")
    operation_name = name if isinstance(name, str) and name else None
    checked = check(schema, str(body["query"]), operation_name=operation_name, variables=variables)
    if isinstance(checked, list):
        return {"errors": checked}, False
    costing = Costing(schema, checked)
    requested = costing.requested()
    if requested > MAX_QUERY_COST:
        return {"errors": [_too_costly(requested)]}, False
    if not bucket.spend(requested):
        return {"errors": [THROTTLED], "extensions": _cost(requested, None, bucket)}, True
    viewer = Viewer(state=state, scopes=scopes, now=now, calls=calls)
    result = execute_sync(
        schema,
        checked.document,
        context_value=viewer,
        variable_values=variables,
        operation_name=operation_name,
        field_resolver=resolve_field,
    )
    actual = min(requested, costing.actual(result.data))
    # A negative spend returns points to the bucket (capped at its capacity): Shopify charges
    # the actual cost and gives back what was requested but not used.
    bucket.spend(actual - requested)
    answer: dict[str, Any] = {"data": result.data}
    if result.errors:
        answer["errors"] = [error_dict(e) for e in result.errors]
    answer["extensions"] = _cost(requested, actual, bucket)
    return answer, False
