"""The baseline the engine is measured against: the same processor calls as a plain httpx script.

No database, no retries, no audit trail, no Prefect: what a hand-written script would do to find
and erase a person at the three processors, and nothing else.

Shopify is spoken to as the connector does (:mod:`connectors.shopify`): the Admin GraphQL API of
the configured version, ``POST /admin/api/{version}/graphql.json`` with the connector's own
documents (:mod:`connectors.shopify_graphql`), pages followed by their ``endCursor``. The script
neither paces itself by query cost nor retries a throttled query.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx

from connectors import shopify_graphql as gql


def subjects(count: int, *, seed: int = 1234) -> list[str]:
    """The first ``count`` seeded shop customers: some also in Klaviyo and the newsletter."""
    from sandbox.seed import seed_sandbox

    data = seed_sandbox(seed=seed, customers=count)
    customers = sorted(data.shopify.customers.values(), key=lambda c: c.id)
    return [c.email for c in customers if c.email][:count]


async def _graphql(
    client: httpx.AsyncClient, endpoint: str, query: gql.Query, variables: dict[str, Any]
) -> dict[str, Any]:
    """One GraphQL document; its ``data`` (a script stops on an answer without any)."""
    response = await client.post(endpoint, json={"query": query.text, "variables": variables})
    data = response.json().get("data")
    if isinstance(data, dict):
        return data
    raise RuntimeError(f"Shopify answered without data: {response.text[:200]}")


def _quoted(value: str) -> str:
    """A search value in double quotes, escaped, so that ``+`` and ``@`` stay one term."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _page(connection: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A connection's nodes and the cursor of its next page (``None`` on the last)."""
    connection = connection if isinstance(connection, dict) else {}
    info = connection.get("pageInfo") or {}
    after = info.get("endCursor") if info.get("hasNextPage") else None
    return list(connection.get("nodes") or []), after


async def _shopify_customers(
    client: httpx.AsyncClient, endpoint: str, email: str
) -> list[dict[str, Any]]:
    """The customers whose address is ``email`` (letter case aside), every search page read."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        variables = {"query": f"email:{_quoted(email)}", "after": after}
        data = await _graphql(client, endpoint, gql.FIND, variables)
        nodes, after = _page(data.get("customers"))
        for customer in nodes:
            held = (customer.get("defaultEmailAddress") or {}).get("emailAddress") or ""
            if str(held).lower() == email.lower():
                found.append(customer)
        if after is None:
            return found


async def _shopify_pages(
    client: httpx.AsyncClient, endpoint: str, query: gql.Query, node: str, field: str
) -> list[dict[str, Any]]:
    """Every node of one connection of ``node`` (a customer's addresses or orders)."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = await _graphql(client, endpoint, query, {"id": node, "after": after})
        nodes, after = _page((data.get("customer") or {}).get(field))
        items += nodes
        if after is None:
            return items


async def _shopify(client: httpx.AsyncClient, endpoint: str, email: str) -> None:
    """An access request's Shopify calls: the search, the token's scopes, each customer's
    account, addresses beyond the first 50, every page of orders and of their line items."""
    customers = await _shopify_customers(client, endpoint, email)
    if not customers:
        return
    data = await _graphql(client, endpoint, gql.SCOPES, {})
    scopes = (data.get("currentAppInstallation") or {}).get("accessScopes") or []
    handles = {scope.get("handle") for scope in scopes}
    for found in customers:
        account = (await _graphql(client, endpoint, gql.ACCOUNT, {"id": found["id"]})).get(
            "customer"
        )
        if not isinstance(account, dict):
            continue
        if _page(account.get("addressesV2"))[1] is not None:
            await _shopify_pages(client, endpoint, gql.ADDRESSES, account["id"], "addressesV2")
        if "read_orders" not in handles:
            continue
        for order in await _shopify_pages(client, endpoint, gql.ORDERS, account["id"], "orders"):
            _, after = _page(order.get("lineItems"))
            while after is not None:
                more = await _graphql(
                    client, endpoint, gql.LINE_ITEMS, {"id": order["id"], "after": after}
                )
                _, after = _page((more.get("order") or {}).get("lineItems"))


async def _shopify_erase(client: httpx.AsyncClient, endpoint: str, email: str) -> None:
    """An erasure's Shopify calls: the search, then ``customerRequestDataErasure`` for each
    customer found."""
    for customer in await _shopify_customers(client, endpoint, email):
        await _graphql(client, endpoint, gql.ERASE, {"customerId": customer["id"]})


async def _klaviyo_pages(client: httpx.AsyncClient, url: str, params: dict[str, Any]) -> list[Any]:
    items: list[Any] = []
    next_url: str | None = url
    next_params: dict[str, Any] | None = params
    while next_url:
        body = (await client.get(next_url, params=next_params)).json()
        items.extend(body["data"])
        next_url, next_params = (body.get("links") or {}).get("next"), None
    return items


async def _klaviyo(client: httpx.AsyncClient, email: str) -> None:
    async def profiles(address: str) -> list[Any]:
        params = {
            "filter": f'equals(email,"{address}")',
            "page[size]": 100,
            "additional-fields[profile]": "subscriptions",
        }
        return await _klaviyo_pages(client, "/api/profiles", params)

    hits = await profiles(email)
    if not hits and email != email.lower():
        hits = await profiles(email.lower())
    for profile in hits:
        if str(profile["attributes"].get("email") or "").lower() != email.lower():
            continue
        pid = profile["id"]
        await _klaviyo_pages(client, f"/api/profiles/{pid}/lists", {})
        events = {"filter": f'equals(profile_id,"{pid}")', "page[size]": 100}
        await _klaviyo_pages(client, "/api/events", events)


async def _mailchimp(client: httpx.AsyncClient, members: str, email: str) -> None:
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    await client.get(f"{members}/{digest}")


class PlainScript:
    """The same calls as the connectors' exports, processors at once, one client each; and
    the Shopify connector's erasure (:meth:`erase_at_shopify`).

    The clients are opened once and reused for every request, as a script would; they live
    on one event loop (:class:`asyncio.Runner`) kept across requests.
    """

    def __init__(self) -> None:
        from dsar.settings import get_settings

        s = get_settings()
        self._graphql = f"/admin/api/{s.shopify_api_version}/graphql.json"
        self._members = f"/3.0/lists/{s.mailchimp_list_id}/members"
        self._runner = asyncio.Runner()
        self._clients: list[httpx.AsyncClient] = []

        async def open_clients() -> list[httpx.AsyncClient]:
            return [
                httpx.AsyncClient(
                    base_url=s.shopify_url.rstrip("/"),
                    headers={
                        "X-Shopify-Access-Token": s.shopify_token.get_secret_value(),
                        "Accept": "application/json",
                    },
                ),
                httpx.AsyncClient(
                    base_url=s.klaviyo_url,
                    headers={
                        "Authorization": f"Klaviyo-API-Key {s.klaviyo_api_key.get_secret_value()}",
                        "revision": s.klaviyo_revision,
                        "Accept": "application/vnd.api+json",
                    },
                ),
                httpx.AsyncClient(
                    base_url=s.mailchimp_url,
                    auth=("dsar", s.mailchimp_api_key.get_secret_value()),
                ),
            ]

        self._clients = self._runner.run(open_clients())

    def access(self, email: str) -> str:
        """Make one access request's calls; ``"completed"`` like the engine's paths."""
        shopify, klaviyo, mailchimp = self._clients

        async def calls() -> None:
            await asyncio.gather(
                _shopify(shopify, self._graphql, email),
                _klaviyo(klaviyo, email),
                _mailchimp(mailchimp, self._members, email),
            )

        self._runner.run(calls())
        return "completed"

    def erase_at_shopify(self, email: str) -> str:
        """Make the Shopify calls of one erasure (search, ``customerRequestDataErasure``)."""
        shopify = self._clients[0]
        self._runner.run(_shopify_erase(shopify, self._graphql, email))
        return "requested"

    def close(self) -> None:
        """Close the clients and the loop."""

        async def close_all() -> None:
            await asyncio.gather(*(c.aclose() for c in self._clients))

        self._runner.run(close_all())
        self._runner.close()
