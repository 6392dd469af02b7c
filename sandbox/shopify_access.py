"""Access scopes: what a Shopify token may read and change, and what it is told when it may not.

Every Admin API token carries the scopes its app was granted. A GraphQL field outside them is
answered with an ``ACCESS_DENIED`` error naming the scope; a REST call with 403 and
``{"errors": "[API] This action requires merchant approval for <scope> scope."}``. Orders are a
special case: without ``read_all_orders`` only the last 60 days' orders exist for the token
(Shopify's "Orders permissions"); older ones are simply left out, so an app that lacks the scope
and does not check for it gets an incomplete answer without any error.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from graphql import GraphQLError

from sandbox.shopify_model import Order

DOCUMENTATION = "https://shopify.dev/api/usage/access-scopes"
#: How far back a token without ``read_all_orders`` sees orders.
RECENT_ORDERS = timedelta(days=60)
ALL_ORDERS = "read_all_orders"

#: Scopes Shopify grants, with the words its ``AccessScope.description`` uses for them.
KNOWN_SCOPES: Mapping[str, str] = {
    "read_customers": "Read customers",
    "write_customers": "Modify customers",
    "read_orders": "Read orders, transactions and fulfillments",
    "write_orders": "Modify orders, transactions and fulfillments",
    "read_all_orders": "Read all orders, not only the last 60 days",
    "read_customer_data_erasure": "Read customer data erasure requests",
    "write_customer_data_erasure": "Request and cancel customer data erasure",
    "read_products": "Read products, variants and collections",
}

#: GraphQL fields (type, field) and the scope each needs.
FIELD_SCOPES: Mapping[tuple[str, str], str] = {
    ("QueryRoot", "customer"): "read_customers",
    ("QueryRoot", "customers"): "read_customers",
    ("QueryRoot", "order"): "read_orders",
    ("QueryRoot", "orders"): "read_orders",
    ("Customer", "orders"): "read_orders",
    ("Customer", "lastOrder"): "read_orders",
    ("Mutation", "customerUpdate"): "write_customers",
    ("Mutation", "customerAddressUpdate"): "write_customers",
    ("Mutation", "customerEmailMarketingConsentUpdate"): "write_customers",
    ("Mutation", "tagsAdd"): "write_customers",
    ("Mutation", "tagsRemove"): "write_customers",
    ("Mutation", "customerRequestDataErasure"): "write_customer_data_erasure",
    ("Mutation", "customerCancelDataErasure"): "write_customer_data_erasure",
}

#: REST routes (method, template suffix) and the scope each needs.
REST_SCOPES: Mapping[tuple[str, str], str] = {
    ("GET", "/customers/search.json"): "read_customers",
    ("GET", "/customers.json"): "read_customers",
    ("GET", "/customers/{customer_id}.json"): "read_customers",
    ("PUT", "/customers/{customer_id}.json"): "write_customers",
    ("DELETE", "/customers/{customer_id}.json"): "write_customers",
    ("GET", "/customers/{customer_id}/orders.json"): "read_orders",
}


def access_denied(field: str, scope: str) -> GraphQLError:
    """Shopify's GraphQL error for a field outside the token's scopes."""
    required = f"`{scope}` access scope."
    return GraphQLError(
        f"Access denied for {field} field. Required access: {required}",
        extensions={
            "code": "ACCESS_DENIED",
            "documentation": DOCUMENTATION,
            "requiredAccess": required,
        },
    )


def rest_denied_message(scope: str) -> str:
    """Shopify's REST error text (403) for a call outside the token's scopes."""
    return f"[API] This action requires merchant approval for {scope} scope."


def order_visible(order: Order, scopes: frozenset[str], now: datetime) -> bool:
    """Whether a token with ``scopes`` sees ``order`` at ``now`` (the 60-day rule)."""
    return ALL_ORDERS in scopes or order.created_at >= now - RECENT_ORDERS


def check_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """``scopes`` if every handle is one Shopify grants, else ``ValueError`` naming the others."""
    unknown = sorted(set(scopes) - set(KNOWN_SCOPES))
    if unknown:
        raise ValueError(f"unknown Shopify access scopes: {', '.join(unknown)}")
    return frozenset(scopes)
