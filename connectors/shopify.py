"""The Shopify connector: a shop's customers, addresses, orders and marketing consent.

Lookups, exports and corrections use the REST Admin API; erasure, marketing objection and the
restriction tag use GraphQL, because REST has no erasure request and ``DELETE customers/{id}``
refuses customers with orders (422). Erasure is Shopify's own ``customerRequestDataErasure``:
Shopify redacts names and addresses and keeps order facts the merchant must retain
(Art. 17(3)(b) GDPR, tax law), possibly after a delay while recent orders exist, so an erasure
is an asynchronous job that :meth:`ShopifyConnector.status` follows up.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from connectors.base import (
    ADDRESS_FIELDS,
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
from connectors.errors import (
    AuthError,
    PermanentError,
    ProtocolError,
    TransientError,
    Unsupported,
    ValidationFailed,
)
from connectors.http import ProcessorClient, RetryPolicy
from connectors.ratelimit import LeakyBucket, RateLimiter
from connectors.responses import decode_json

NAME = "shopify"
#: Tag that marks a restricted customer (Art. 18) for staff and shop apps.
RESTRICTED_TAG = "dsar-restricted"
JOB_PREFIX = "shopify-erasure:"
#: Most orders a page may hold (Shopify's maximum).
ORDER_PAGE = 250
_MAX_PAGES = 10_000

_CUSTOMER_FIELDS = {"email", "first_name", "last_name", "phone"}
_SPLIT_OUT = {"addresses", "default_address", "email_marketing_consent", "sms_marketing_consent"}

_ERASE = """
mutation customerRequestDataErasure($customerId: ID!) {
  customerRequestDataErasure(customerId: $customerId) {
    customerId
    userErrors { field message code }
  }
}"""
_CONSENT = """
mutation customerEmailMarketingConsentUpdate($input: CustomerEmailMarketingConsentUpdateInput!) {
  customerEmailMarketingConsentUpdate(input: $input) {
    customer { id }
    userErrors { field message code }
  }
}"""
_TAGS_ADD = """
mutation tagsAdd($id: ID!, $tags: [String!]!) {
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}"""
_TAGS_REMOVE = """
mutation tagsRemove($id: ID!, $tags: [String!]!) {
  tagsRemove(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}"""


class ShopifyConnector(ClosingContext):
    """Data-subject operations on one Shopify shop (Admin API ``api_version``)."""

    name = NAME
    capabilities = frozenset(Capability)

    def __init__(
        self,
        base_url: str,
        token: str,
        api_version: str = "2025-07",
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._api = f"/admin/api/{api_version}"
        self._http = ProcessorClient.create(
            processor=NAME,
            base_url=base_url.rstrip("/"),
            headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            transport=transport,
            limiter=rate if rate is not None else LeakyBucket(),
            retry=retry,
        )

    def __repr__(self) -> str:
        return f"ShopifyConnector(api={self._api!r})"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # -- lookups -------------------------------------------------------------------------------

    async def _customer(self, customer_id: str) -> dict[str, Any] | None:
        status, body = await self._http.request_json(
            "GET", f"{self._api}/customers/{customer_id}.json", idempotent=True, allow={404}
        )
        if status == 404:
            return None
        customer = _dict(body).get("customer")
        if not isinstance(customer, dict) or "id" not in customer:
            raise ProtocolError("customer answer lacks 'customer'", processor=NAME)
        return customer

    async def _search(self, query: str) -> list[dict[str, Any]]:
        _, body = await self._http.request_json(
            "GET",
            f"{self._api}/customers/search.json",
            params={"query": query},
            idempotent=True,
        )
        customers = _dict(body).get("customers")
        if not isinstance(customers, list):
            raise ProtocolError("search answer lacks 'customers'", processor=NAME)
        if not all(isinstance(c, dict) and "id" in c for c in customers):
            raise ProtocolError("search answer holds customers without id", processor=NAME)
        return customers

    async def _find(self, subject: Subject) -> dict[str, dict[str, Any]]:
        """Every customer matching any identity, by id; search hits are matched exactly."""
        found: dict[str, dict[str, Any]] = {}
        if customer_id := subject.customer_ids.get(NAME):
            customer = await self._customer(customer_id)
            if customer is not None:
                found[str(customer["id"])] = customer
        for email in subject.emails:
            for customer in await self._search(f"email:{email}"):
                if str(customer.get("email") or "").lower() == email.lower():
                    found.setdefault(str(customer["id"]), customer)
        for phone in subject.phones:
            # Shopify keeps phones in E.164; spaces would split the search into several terms.
            e164 = ("+" if phone.strip().startswith("+") else "") + _digits(phone)
            for customer in await self._search(f"phone:{e164}"):
                if _digits(customer.get("phone")) == _digits(phone):
                    found.setdefault(str(customer["id"]), customer)
        return found

    async def locate(self, subject: Subject) -> Located:
        """Find customers by Shopify id, e-mail (case-insensitive) or phone."""
        found = await self._find(subject)
        return Located(found=bool(found), refs=tuple(f"customer:{cid}" for cid in found))

    # -- access --------------------------------------------------------------------------------

    async def _orders(self, customer_id: str) -> list[dict[str, Any]]:
        """All the customer's orders, open and closed, following ``Link: rel="next"`` to the end."""
        orders: list[dict[str, Any]] = []
        url: str | None = f"{self._api}/customers/{customer_id}/orders.json"
        params: dict[str, Any] | None = {"status": "any", "limit": ORDER_PAGE}
        for _ in range(_MAX_PAGES):
            if url is None:
                return orders
            response = await self._http.request("GET", url, params=params, idempotent=True)
            page = _dict(decode_json(response, processor=NAME)).get("orders")
            if not isinstance(page, list):
                raise ProtocolError("orders answer lacks 'orders'", processor=NAME)
            orders.extend(_dict(o) for o in page)
            url, params = response.links.get("next", {}).get("url"), None
        raise ProtocolError("order pagination does not end", processor=NAME)

    async def export(self, subject: Subject) -> SubjectData:
        """Account, addresses, every order and marketing consent, one record per item (Art. 15)."""
        records: list[Record] = []
        for cid, customer in (await self._find(subject)).items():
            account = {k: v for k, v in customer.items() if k not in _SPLIT_OUT}
            records.append(Record("customer_account", NAME, account))
            records.extend(
                Record("addresses", NAME, _dict(a)) for a in _list(customer, "addresses")
            )
            records.extend(Record("orders", NAME, o) for o in await self._orders(cid))
            consent = {
                k: customer.get(k) for k in ("email_marketing_consent", "sms_marketing_consent")
            }
            records.append(
                Record("marketing_consent", NAME, {"customer_id": customer["id"], **consent})
            )
        return SubjectData(processor=NAME, records=tuple(records))

    # -- rectification ------------------------------------------------------------------------

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Correct account fields and the default address in one ``PUT customers/{id}`` (Art. 16).

        The address travels as ``addresses: [{"id": <default address id>, ...}]``, which
        updates that address in place. Only fields whose value differs are sent, so repeating
        a rectification sends nothing.
        """
        unknown = set(changes) - _CUSTOMER_FIELDS - ADDRESS_FIELDS
        if unknown:
            raise Unsupported(f"cannot rectify fields {sorted(unknown)}", processor=NAME)
        wanted = {k: str(v) for k, v in changes.items()}
        account_wanted = {k: v for k, v in wanted.items() if k in _CUSTOMER_FIELDS}
        address_wanted = {k: v for k, v in wanted.items() if k in ADDRESS_FIELDS}
        changed: list[str] = []
        fields: set[str] = set()
        without_address = 0
        for cid, customer in (await self._find(subject)).items():
            account: dict[str, Any] = _diff(customer, account_wanted)
            address = _dict(customer.get("default_address"))
            if address_wanted and not address:
                without_address += 1
            address_diff = _diff(address, address_wanted) if address else {}
            if address_diff:
                account["addresses"] = [{"id": address["id"], **address_diff}]
            if account:
                await self._http.request(
                    "PUT",
                    f"{self._api}/customers/{cid}.json",
                    json={"customer": {"id": customer["id"], **account}},
                    idempotent=True,
                )
            if account or address_diff:
                changed.append(cid)
                fields |= (account.keys() - {"addresses"}) | address_diff.keys()
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
            data = await self._graphql(_ERASE, {"customerId": _gid(customer)})
            errors = _user_errors(data, "customerRequestDataErasure")
            if any(e.get("code") == "DOES_NOT_EXIST" for e in errors):
                continue
            _raise_user_errors(errors)
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
            customer = await self._customer(cid)
            if customer is not None and not _redacted(customer):
                pending += 1
        if pending:
            return JobStatus(job_ref, complete=False, note=f"{pending} customer(s) not erased yet")
        return JobStatus(job_ref, complete=True, note="customer data erased")

    # -- restriction and objection --------------------------------------------------------------

    async def restrict(self, subject: Subject) -> Outcome:
        """Unsubscribe e-mail marketing and tag the customer ``dsar-restricted`` (Art. 18, 21).

        Each half is skipped when already in place, so a repeat has no side effect.
        """
        changed: list[str] = []
        for cid, customer in (await self._find(subject)).items():
            did = False
            state = str(_dict(customer.get("email_marketing_consent")).get("state") or "")
            if customer.get("email") and state.lower() != "unsubscribed":
                consent = {
                    "marketingState": "UNSUBSCRIBED",
                    "consentUpdatedAt": datetime.now(UTC).isoformat(timespec="seconds"),
                }
                data = await self._graphql(
                    _CONSENT,
                    {"input": {"customerId": _gid(customer), "emailMarketingConsent": consent}},
                )
                _raise_user_errors(_user_errors(data, "customerEmailMarketingConsentUpdate"))
                did = True
            if RESTRICTED_TAG not in _tags(customer):
                data = await self._graphql(
                    _TAGS_ADD, {"id": _gid(customer), "tags": [RESTRICTED_TAG]}
                )
                _raise_user_errors(_user_errors(data, "tagsAdd"))
                did = True
            if did:
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
            if RESTRICTED_TAG in _tags(customer):
                data = await self._graphql(
                    _TAGS_REMOVE, {"id": _gid(customer), "tags": [RESTRICTED_TAG]}
                )
                _raise_user_errors(_user_errors(data, "tagsRemove"))
                changed.append(cid)
        note = "restriction tag removed; marketing consent left unsubscribed"
        return _outcome(
            Capability.LIFT_RESTRICTION, changed, note=note if changed else "not restricted"
        )

    # -- GraphQL -------------------------------------------------------------------------------

    async def _graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Run one mutation; THROTTLED is retried by the HTTP layer, other errors raise.

        Each mutation used here sets a state (erasure requested, unsubscribed, tag present), so
        sending it twice has the effect of sending it once: the call is idempotent.
        """
        response = await self._http.request(
            "POST",
            f"{self._api}/graphql.json",
            json={"query": query, "variables": variables},
            idempotent=True,
            inspect=_check_graphql,
        )
        return _dict(_dict(decode_json(response, processor=NAME)).get("data"))


def _check_graphql(response: httpx.Response) -> None:
    """Raise for top-level GraphQL ``errors``; THROTTLED becomes a retryable TransientError."""
    body = _dict(decode_json(response, processor=NAME))
    errors = body.get("errors")
    if not errors:
        if not isinstance(body.get("data"), dict):
            raise ProtocolError("GraphQL answer without data", processor=NAME, status=200)
        return
    items = [_dict(e) for e in errors] if isinstance(errors, list) else [{"message": str(errors)}]
    codes = {str(_dict(e.get("extensions")).get("code") or "") for e in items}
    message = "; ".join(str(e.get("message") or "") for e in items)
    if "THROTTLED" in codes:
        raise TransientError(
            message, processor=NAME, status=200, retry_after=_throttle_wait(body), replay_safe=True
        )
    if codes & {"ACCESS_DENIED", "UNAUTHORIZED"}:
        raise AuthError(message, processor=NAME, status=200)
    raise PermanentError(message or "GraphQL error", processor=NAME, status=200)


def _throttle_wait(body: dict[str, Any]) -> float | None:
    """Seconds until the query's cost is restored, from ``extensions.cost.throttleStatus``."""
    cost = _dict(_dict(body.get("extensions")).get("cost"))
    throttle = _dict(cost.get("throttleStatus"))
    try:
        needed = float(cost["requestedQueryCost"]) - float(throttle["currentlyAvailable"])
        wait = needed / float(throttle["restoreRate"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return wait if wait > 0 else None


def _user_errors(data: dict[str, Any], field: str) -> list[dict[str, Any]]:
    payload = data.get(field)
    if not isinstance(payload, dict):
        raise ProtocolError(f"GraphQL answer lacks {field!r}", processor=NAME, status=200)
    return [_dict(e) for e in payload.get("userErrors") or []]


def _raise_user_errors(errors: list[dict[str, Any]]) -> None:
    if errors:
        message = "; ".join(f"{e.get('code') or 'error'}: {e.get('message')}" for e in errors)
        raise ValidationFailed(message, processor=NAME, status=200)


def _outcome(action: Capability, changed: list[str], *, note: str) -> Outcome:
    return Outcome(
        processor=NAME,
        action=action,
        complete=True,
        count=len(changed),
        note=note,
        refs=tuple(f"customer:{cid}" for cid in changed),
    )


def _diff(current: dict[str, Any], wanted: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def _gid(customer: dict[str, Any]) -> str:
    gid = customer.get("admin_graphql_api_id")
    return str(gid) if gid else f"gid://shopify/Customer/{customer['id']}"


def _tags(customer: dict[str, Any]) -> set[str]:
    tags = customer.get("tags") or ""
    items = tags if isinstance(tags, list) else str(tags).split(",")
    return {str(t).strip() for t in items if str(t).strip()}


def _redacted(customer: dict[str, Any]) -> bool:
    """Shopify keeps a redacted customer's id but no contact data or name."""
    return not any(customer.get(k) for k in ("email", "phone", "first_name", "last_name"))


def _digits(value: object) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(container: dict[str, Any], key: str) -> list[Any]:
    value = container.get(key)
    return value if isinstance(value, list) else []
