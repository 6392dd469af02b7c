"""The Shopify connector: a shop's customers, addresses, orders and marketing consent.

Everything goes through the Admin GraphQL API of one pinned version (``DSAR_SHOPIFY_API_VERSION``;
REST is legacy at Shopify). A version past Shopify's support window is refused, one within 60
days of its end warned about: Shopify would answer with another version than the documents'.

Shopify limits GraphQL by query cost, a bucket of points every answer reports in
``extensions.cost.throttleStatus``. Each document knows its requested cost, so the connector
waits on its client-side bucket (following Shopify's figures) until Shopify has the points
(:meth:`~connectors.ratelimit.LeakyBucket.acquire_points`); a ``THROTTLED`` answer is still
retried after the time the points take to come back.

Orders older than 60 days are only visible to a token with ``read_all_orders``; without it
Shopify silently leaves them out. The connector asks once which scopes its token has and says in
the export (:attr:`SubjectData.incomplete`) what a missing scope kept out. Erasure is Shopify's
own ``customerRequestDataErasure``: Shopify redacts names and addresses and keeps the order
facts the merchant must retain (Art. 17(3)(b) GDPR, tax law), possibly after a delay, so an
erasure is an asynchronous job that :meth:`ShopifyConnector.status` follows up.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Any

import httpx
import structlog

from connectors import shopify_answers as answers
from connectors import shopify_graphql as gql
from connectors.base import (
    Capability,
    Changes,
    ClosingContext,
    JobStatus,
    Located,
    Outcome,
    Record,
    Subject,
    SubjectData,
)
from connectors.errors import ProtocolError, Unsupported
from connectors.http import ProcessorClient, RetryPolicy
from connectors.ratelimit import LeakyBucket, RateLimiter, Unlimited
from connectors.versions import SHOPIFY_API_VERSION, check_window, shopify_window
from dsar.evidence import Trace

log = structlog.get_logger(__name__)

NAME = answers.NAME
SETTING = "DSAR_SHOPIFY_API_VERSION"
#: Tag that marks a restricted customer (Art. 18) for staff and shop apps.
RESTRICTED_TAG = "dsar-restricted"
JOB_PREFIX = "shopify-erasure:"
_MAX_PAGES = 10_000
MISSING_ALL_ORDERS = answers.MISSING_ALL_ORDERS


class ShopifyConnector(ClosingContext):
    """Data-subject operations on one Shopify shop (Admin GraphQL API ``api_version``).

    ``rate`` paces queries by their cost when it is a :class:`LeakyBucket` (the registry's
    default is Shopify's 2,000-point bucket); any other limiter, e.g. ``Unlimited``, leaves
    pacing to Shopify's throttling. ``today`` (for tests) is the date the version is checked on.
    """

    name = NAME
    capabilities = frozenset(Capability)

    def __init__(
        self,
        base_url: str,
        token: str,
        api_version: str = SHOPIFY_API_VERSION,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        today: date | None = None,
    ) -> None:
        warning = check_window(
            shopify_window(api_version), setting=SETTING, today=today or datetime.now(UTC).date()
        )
        if warning is not None:
            log.warning("shopify_api_version_ending", processor=NAME, detail=warning)
        self.api_version = api_version
        self._endpoint = f"/admin/api/{api_version}/graphql.json"
        self._points = rate if isinstance(rate, LeakyBucket) else None
        self._scopes: frozenset[str] | None = None
        self._asking = asyncio.Lock()
        self._http = ProcessorClient.create(
            processor=NAME,
            base_url=base_url.rstrip("/"),
            headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            transport=transport,
            limiter=Unlimited(),
            retry=retry,
        )

    def __repr__(self) -> str:
        return f"ShopifyConnector(api_version={self.api_version!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # -- GraphQL -------------------------------------------------------------------------------

    async def _graphql(self, query: gql.Query, variables: dict[str, Any]) -> dict[str, Any]:
        """Send one document once its points are there; answer its ``data``.

        Every document is a read or a mutation that sets a state (erasure requested, consent
        unsubscribed, tag present, a field's value), so repeating it has the effect of sending
        it once: the call is idempotent and the HTTP layer may retry it.
        """
        statuses: list[dict[str, float]] = []

        def inspect(response: httpx.Response) -> None:
            body = answers.read_answer(response)
            if (status := answers.throttle_status(body)) is not None:
                statuses.append(status)
            answers.check_answer(body)

        if self._points is not None:
            await self._points.acquire_points(query.cost)
        try:
            response = await self._http.request(
                "POST",
                self._endpoint,
                json={"query": query.text, "variables": variables},
                idempotent=True,
                inspect=inspect,
            )
        finally:
            if self._points is not None:
                self._points.release_points(query.cost, **(statuses[-1] if statuses else {}))
        data = answers.read_answer(response).get("data")
        if not isinstance(data, dict):
            raise ProtocolError("GraphQL answer without data", processor=NAME, status=200)
        return data

    async def scopes(self) -> frozenset[str]:
        """The access scopes of the token, asked once per connector."""
        async with self._asking:
            if self._scopes is None:
                data = await self._graphql(gql.SCOPES, {})
                scopes = answers.dict_of(data.get("currentAppInstallation")).get("accessScopes")
                if not isinstance(scopes, list):
                    raise ProtocolError("answer lacks accessScopes", processor=NAME, status=200)
                self._scopes = frozenset(str(answers.dict_of(s).get("handle")) for s in scopes)
            return self._scopes

    async def _mutate(self, query: gql.Query, field: str, variables: dict[str, Any]) -> None:
        """Run a mutation; its ``userErrors`` raise ValidationFailed."""
        answers.raise_user_errors(answers.user_errors(await self._graphql(query, variables), field))

    # -- lookups -------------------------------------------------------------------------------

    async def _customer(self, customer_gid: str) -> dict[str, Any] | None:
        data = await self._graphql(gql.CUSTOMER, {"id": customer_gid})
        customer = data.get("customer")
        return customer if isinstance(customer, dict) else None

    async def _search(self, query: str) -> list[dict[str, Any]]:
        """Every customer a search query finds, following the cursor to the last page."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            data = await self._graphql(gql.FIND, {"query": query, "after": after})
            if not isinstance(data.get("customers"), dict):
                raise ProtocolError("search answer lacks customers", processor=NAME, status=200)
            nodes, after = answers.page(data["customers"])
            found += nodes
            if after is None:
                return found
        raise ProtocolError("customer pagination does not end", processor=NAME)

    async def _find(self, subject: Subject) -> dict[str, dict[str, Any]]:
        """Every customer matching any identity, by numeric id; search hits are matched exactly."""
        found: dict[str, dict[str, Any]] = {}
        if customer_id := subject.customer_ids.get(NAME):
            customer = await self._customer(answers.gid(customer_id))
            if customer is not None:
                found[answers.number(customer)] = customer
        for email in subject.emails:
            for customer in await self._search(f"email:{answers.quoted(email)}"):
                held = str(
                    answers.dict_of(customer.get("defaultEmailAddress")).get("emailAddress") or ""
                )
                if held.lower() == email.lower():
                    found.setdefault(answers.number(customer), customer)
        for phone in subject.phones:
            # Shopify keeps phones in E.164; spaces would split the search into several terms.
            e164 = ("+" if phone.strip().startswith("+") else "") + answers.digits(phone)
            for customer in await self._search(f"phone:{answers.quoted(e164)}"):
                number = answers.dict_of(customer.get("defaultPhoneNumber")).get("phoneNumber")
                if answers.digits(number) == answers.digits(phone):
                    found.setdefault(answers.number(customer), customer)
        return found

    async def locate(self, subject: Subject) -> Located:
        """Find customers by Shopify id, e-mail (case-insensitive) or phone."""
        found = await self._find(subject)
        return Located(found=bool(found), refs=tuple(f"customer:{cid}" for cid in found))

    async def traces(self, subject: Subject) -> tuple[Trace, ...]:
        """Where the person's orders show their data went: gateways, carriers, checkout."""
        found: list[Trace] = []
        for customer in (await self._find(subject)).values():
            for order in await self._pages(gql.TRACES, customer["id"], "orders"):
                found += answers.order_traces(order)
        return tuple(dict.fromkeys(found))

    # -- access --------------------------------------------------------------------------------

    async def _pages(self, query: gql.Query, customer_gid: str, field: str) -> list[Any]:
        """Every node of one of the customer's connections (addresses, orders)."""
        items: list[dict[str, Any]] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            data = await self._graphql(query, {"id": customer_gid, "after": after})
            nodes, after = answers.page(answers.dict_of(data.get("customer")).get(field))
            items += nodes
            if after is None:
                return items
        raise ProtocolError(f"{field} pagination does not end", processor=NAME)

    async def _line_items(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's line items, fetching the pages after the first one it came with."""
        items, after = answers.page(order.get("lineItems"))
        for _ in range(_MAX_PAGES):
            if after is None:
                return items
            data = await self._graphql(gql.LINE_ITEMS, {"id": order.get("id"), "after": after})
            more, after = answers.page(answers.dict_of(data.get("order")).get("lineItems"))
            items += more
        raise ProtocolError("line item pagination does not end", processor=NAME)

    async def export(self, subject: Subject) -> SubjectData:
        """Account, addresses, every order and marketing consent, one record per item (Art. 15).

        Orders the token cannot see are named in :attr:`SubjectData.incomplete`.
        """
        found = await self._find(subject)
        if not found:
            return SubjectData(processor=NAME)
        scopes = await self.scopes()
        records: list[Record] = []
        for found_customer in found.values():
            data = await self._graphql(gql.ACCOUNT, {"id": found_customer["id"]})
            customer = data.get("customer")
            if not isinstance(customer, dict):
                continue  # erased between the search and now
            records.append(Record("customer_account", NAME, answers.account_record(customer)))
            addresses, after = answers.page(customer.get("addressesV2"))
            if after is not None:
                addresses = await self._pages(gql.ADDRESSES, customer["id"], "addressesV2")
            records += [Record("addresses", NAME, answers.address_record(a)) for a in addresses]
            if "read_orders" in scopes:
                for order in await self._pages(gql.ORDERS, customer["id"], "orders"):
                    items = await self._line_items(order)
                    records.append(Record("orders", NAME, answers.order_record(order, items)))
            records.append(Record("marketing_consent", NAME, answers.consent_record(customer)))
        return SubjectData(NAME, tuple(records), incomplete=answers.missing_for(scopes))

    # -- rectification ------------------------------------------------------------------------

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Correct account fields (``customerUpdate``) and the default address in place
        (``customerAddressUpdate``) (Art. 16).

        Only fields whose value differs are sent, so repeating a rectification sends nothing.
        A country is an ISO 3166 alpha-2 code (Shopify's ``CountryCode``).
        """
        wanted = answers.wanted_changes(changes)
        changed: list[str] = []
        fields: set[str] = set()
        without_address = 0
        for cid, customer in (await self._find(subject)).items():
            plan = answers.corrections(customer, wanted)
            without_address += plan.lacks_address
            if plan.account:
                variables = {"input": {"id": customer["id"], **plan.account}}
                await self._mutate(gql.UPDATE, "customerUpdate", variables)
            if plan.address:
                variables = {
                    "customerId": customer["id"],
                    "addressId": answers.dict_of(customer.get("defaultAddress"))["id"],
                    "address": plan.address,
                }
                await self._mutate(gql.ADDRESS_UPDATE, "customerAddressUpdate", variables)
            if plan.fields:
                changed.append(cid)
                fields |= plan.fields
        note = f"changed {sorted(fields)}" if changed else "nothing to change"
        if without_address:
            note += f"; {without_address} customer(s) have no address to correct"
        return _outcome(Capability.RECTIFY, changed, note=note)

    # -- erasure -------------------------------------------------------------------------------

    async def erase(self, subject: Subject) -> Outcome:
        """Request Shopify's data erasure for every matching customer (Art. 17).

        A customer that no longer exists counts as erased. The job completes when Shopify has
        deleted or redacted the customer; :meth:`status` checks.
        """
        requested: list[str] = []
        for cid, customer in (await self._find(subject)).items():
            data = await self._graphql(gql.ERASE, {"customerId": customer["id"]})
            errors = answers.user_errors(data, "customerRequestDataErasure")
            if any(e.get("code") == "DOES_NOT_EXIST" for e in errors):
                continue
            answers.raise_user_errors(errors)
            requested.append(cid)
        if not requested:
            return _outcome(Capability.ERASE, [], note="no customer found; nothing to erase")
        return Outcome(
            processor=NAME,
            action=Capability.ERASE,
            complete=False,
            count=len(requested),
            job_ref=JOB_PREFIX + "+".join(requested),
            note="erasure requested; Shopify redacts the customer asynchronously",
            refs=tuple(f"customer:{cid}" for cid in requested),
        )

    async def status(self, job_ref: str) -> JobStatus:
        """An erasure job is complete when each customer is gone or redacted."""
        if not job_ref.startswith(JOB_PREFIX) or not job_ref[len(JOB_PREFIX) :]:
            raise Unsupported("not a Shopify erasure job reference", processor=NAME)
        pending = 0
        for cid in job_ref[len(JOB_PREFIX) :].split("+"):
            customer = await self._customer(answers.gid(cid))
            if customer is not None and not answers.redacted(customer):
                pending += 1
        if pending:
            return JobStatus(job_ref, complete=False, note=f"{pending} customer(s) not erased yet")
        return JobStatus(job_ref, complete=True, note="customer data erased")

    # -- restriction and objection --------------------------------------------------------------

    async def restrict(self, subject: Subject) -> Outcome:
        """Unsubscribe e-mail marketing and tag the customer ``dsar-restricted`` (Art. 18, 21).

        Each half is skipped when already in place, so a repeat has no side effect; being
        independent, the two are sent together.
        """
        changed: list[str] = []
        for cid, customer in (await self._find(subject)).items():
            writes = []
            email = answers.dict_of(customer.get("defaultEmailAddress"))
            if email and email.get("marketingState") != "UNSUBSCRIBED":
                consent = {
                    "marketingState": "UNSUBSCRIBED",
                    "consentUpdatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                given = {"customerId": customer["id"], "emailMarketingConsent": consent}
                writes.append(
                    self._mutate(
                        gql.CONSENT, "customerEmailMarketingConsentUpdate", {"input": given}
                    )
                )
            if RESTRICTED_TAG not in answers.tags(customer):
                tagged = {"id": customer["id"], "tags": [RESTRICTED_TAG]}
                writes.append(self._mutate(gql.TAGS_ADD, "tagsAdd", tagged))
            if writes:
                await asyncio.gather(*writes)
                changed.append(cid)
        note = "marketing unsubscribed and tagged" if changed else "already restricted or not found"
        return _outcome(Capability.RESTRICT, changed, note=note)

    async def lift_restriction(self, subject: Subject) -> Outcome:
        """Remove the ``dsar-restricted`` tag (Art. 18(3)).

        Marketing stays unsubscribed: a new subscription needs the person's fresh consent
        (Art. 7), which lifting a restriction does not give.
        """
        changed: list[str] = []
        for cid, customer in (await self._find(subject)).items():
            if RESTRICTED_TAG in answers.tags(customer):
                variables = {"id": customer["id"], "tags": [RESTRICTED_TAG]}
                await self._mutate(gql.TAGS_REMOVE, "tagsRemove", variables)
                changed.append(cid)
        note = "restriction tag removed; marketing consent left unsubscribed"
        return _outcome(
            Capability.LIFT_RESTRICTION, changed, note=note if changed else "not restricted"
        )


def _outcome(action: Capability, changed: list[str], *, note: str) -> Outcome:
    return Outcome(
        processor=NAME,
        action=action,
        complete=True,
        count=len(changed),
        note=note,
        refs=tuple(f"customer:{cid}" for cid in changed),
    )
