"""The baseline the engine is measured against: the same processor calls as a plain httpx script.

No database, no retries, no audit trail, no Prefect: what a hand-written script would do to find
and erase a person at the three processors, and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx


def subjects(count: int, *, seed: int = 1234) -> list[str]:
    """The first ``count`` seeded shop customers: some also in Klaviyo and the newsletter."""
    from sandbox.seed import seed_sandbox

    data = seed_sandbox(seed=seed, customers=count)
    customers = sorted(data.shopify.customers.values(), key=lambda c: c.id)
    return [c.email for c in customers if c.email][:count]


async def _shopify(client: httpx.AsyncClient, api: str, email: str) -> None:
    body = await client.get(f"{api}/customers/search.json", params={"query": f"email:{email}"})
    for customer in body.json()["customers"]:
        if str(customer.get("email") or "").lower() != email.lower():
            continue
        url: str | None = f"{api}/customers/{customer['id']}/orders.json"
        params: dict[str, Any] | None = {"status": "any", "limit": 250}
        while url is not None:
            page = await client.get(url, params=params)
            url, params = page.links.get("next", {}).get("url"), None


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
    """The same calls as the connectors' exports, processors at once, one client each.

    The clients are opened once and reused for every request, as a script would; they live
    on one event loop (:class:`asyncio.Runner`) kept across requests.
    """

    def __init__(self) -> None:
        from dsar.settings import get_settings

        s = get_settings()
        self._api = f"/admin/api/{s.shopify_api_version}"
        self._members = f"/3.0/lists/{s.mailchimp_list_id}/members"
        self._runner = asyncio.Runner()
        self._clients: list[httpx.AsyncClient] = []

        async def open_clients() -> list[httpx.AsyncClient]:
            return [
                httpx.AsyncClient(
                    base_url=s.shopify_url,
                    headers={"X-Shopify-Access-Token": s.shopify_token.get_secret_value()},
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
                _shopify(shopify, self._api, email),
                _klaviyo(klaviyo, email),
                _mailchimp(mailchimp, self._members, email),
            )

        self._runner.run(calls())
        return "completed"

    def close(self) -> None:
        """Close the clients and the loop."""

        async def close_all() -> None:
            await asyncio.gather(*(c.aclose() for c in self._clients))

        self._runner.run(close_all())
        self._runner.close()
