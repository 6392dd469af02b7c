"""The Shopify emulator keeps a running total of the GraphQL cost it charged
(``GET /_sandbox/graphql-cost``): queries and mutations at their actual cost, refusals at none."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from sandbox import MARIA, SHOP_ONLY, Sandbox, ShopifyLimits
from tests.sandbox.conftest import SHOPIFY_HEADERS, FakeClock, client

pytestmark = pytest.mark.anyio

TODAY = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SHOP = "/admin/api/2026-10"
LEDGER = "/_sandbox/graphql-cost"
ORDERS = (
    "query Orders($id: ID!) { customer(id: $id) { orders(first: 10) "
    "{ nodes { name createdAt } } } }"
)
ERASE = (
    "mutation Erase($id: ID!) { customerRequestDataErasure(customerId: $id) "
    "{ customerId userErrors { field message code } } }"
)
TOO_COSTLY = "{ customers(first: 250) { nodes { orders(first: 250) { nodes { id } } } } }"


def gid(customer_id: int | None) -> str:
    return f"gid://shopify/Customer/{customer_id}"


async def graphql(c: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await c.post(f"{SHOP}/graphql.json", json={"query": query, "variables": variables})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def ledger(c: httpx.AsyncClient) -> dict[str, Any]:
    response = await c.get(LEDGER)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def shopify(clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a small shop on the fake clock, whose bucket holds 25 points."""
    box = Sandbox.create(
        customers=10,
        clock=clock,
        wall_clock=lambda: TODAY,
        shopify_limits=ShopifyLimits(graphql_capacity=25),
    )
    async with client(box.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
        yield c


async def test_queries_and_mutations_are_totalled_at_their_actual_cost(
    shopify: httpx.AsyncClient,
) -> None:
    """Maria's orders (10 asked for, fewer returned) and an erasure: the total is the sum of
    their ``actualQueryCost``, which is also what left the bucket (the clock stands still)."""
    assert await ledger(shopify) == {"points": 0, "requests": 0}
    query = await graphql(shopify, ORDERS, id=gid(MARIA.shopify_customer_id))
    mutation = await graphql(shopify, ERASE, id=gid(SHOP_ONLY.shopify_customer_id))
    costs = [body["extensions"]["cost"] for body in (query, mutation)]
    assert costs[0]["actualQueryCost"] < costs[0]["requestedQueryCost"]
    assert costs[1]["actualQueryCost"] == 10
    total = costs[0]["actualQueryCost"] + costs[1]["actualQueryCost"]
    assert await ledger(shopify) == {"points": total, "requests": 2}
    assert costs[1]["throttleStatus"]["currentlyAvailable"] == 25 - total


async def test_refused_requests_are_charged_nothing(shopify: httpx.AsyncClient) -> None:
    """Two erasures of 10 fit in 25 points; the third is THROTTLED, a query over the
    single-query limit and an invalid one are refused: none of those three adds to the total."""
    customer = gid(SHOP_ONLY.shopify_customer_id)
    answers = [await graphql(shopify, ERASE, id=customer) for _ in range(3)]
    assert answers[2]["errors"][0]["extensions"]["code"] == "THROTTLED"
    too_costly = await graphql(shopify, TOO_COSTLY)
    assert too_costly["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"
    invalid = await graphql(shopify, "{ customers(first: 1) { nodes { nope } } }")
    assert "data" not in invalid
    assert await ledger(shopify) == {"points": 20, "requests": 2}
