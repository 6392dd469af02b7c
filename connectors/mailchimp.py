"""The Mailchimp connector: the person's membership in every audience of the account.

A Mailchimp account holds several audiences (lists), and one person may be a member of any
number of them, each membership a record of its own. So the connector first asks
``GET /3.0/search-members?query=<address>``, which searches every audience of the account, and
then acts on each exact match under its own ``/3.0/lists/{list_id}/members/{subscriber_hash}``
(the MD5 of the lower-cased address). Erasure is ``actions/delete-permanent``, which removes
all personal data synchronously; a 404 means the member is already gone, which counts as done.
Restriction and objection unsubscribe every membership (Art. 18, 21(3) GDPR). Lifting a
restriction deliberately does *not* re-subscribe: a subscription rests on consent
(Art. 6(1)(a), 7), and only the person can give it again, through the list's own double opt-in.

Transient failures are retried by the HTTP layer, including the body-less 403 with which
Mailchimp's edge throttles high volume (:data:`connectors.responses.BODYLESS_403_THROTTLES`);
a 403 that carries a problem document is a missing permission and surfaces as such.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

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
from connectors.errors import AuthError, ProtocolError, Unsupported
from connectors.http import ProcessorClient, RetryPolicy
from connectors.ratelimit import ConcurrencyLimit, RateLimiter

NAME = "mailchimp"
SEARCH = "/3.0/search-members"
#: Only the exact matches are asked for: the full-text part of a search by address can list
#: other people whose names resemble it, whose data this request has no business reading.
SEARCH_EXCLUDES = "full_search,_links,exact_matches.members._links"
#: Canonical change fields → merge fields; ``email`` is the member's ``email_address``.
_MERGE_FIELDS = {"first_name": "FNAME", "last_name": "LNAME", "phone": "PHONE"}
#: Canonical address fields → the parts of Mailchimp's ``ADDRESS`` merge field.
_ADDRESS_PARTS = {
    "address1": "addr1",
    "address2": "addr2",
    "city": "city",
    "province": "state",
    "zip": "zip",
    "country": "country",
}
#: A data centre as it ends an API key: ``us21``.
_DATA_CENTRE = re.compile(r"[a-z]{2,4}\d{1,3}")
#: Statuses under which the list may send marketing e-mail.
_MAILABLE = {"subscribed", "pending"}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: MD5 of the lower-cased address (an id, not a security measure)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def data_centre_url(api_key: str) -> str:
    """The API's address for the data centre an API key belongs to (its ``-usNN`` suffix).

    Mailchimp serves each account from one data centre, named at the end of its keys; a key
    without one cannot say where its account lives.
    """
    _, _, centre = api_key.strip().rpartition("-")
    if not _DATA_CENTRE.fullmatch(centre):
        raise AuthError(
            "the API key names no data centre (it should end in e.g. -us21); "
            "set DSAR_MAILCHIMP_URL or use the key as Mailchimp shows it",
            processor=NAME,
        )
    return f"https://{centre}.api.mailchimp.com"


@dataclass(frozen=True)
class Membership:
    """One audience's member record for the person, as the search returned it."""

    list_id: str
    hash: str
    member: dict[str, Any]

    @property
    def path(self) -> str:
        """The member's resource: ``/3.0/lists/{list_id}/members/{subscriber_hash}``."""
        return f"/3.0/lists/{quote(self.list_id, safe='')}/members/{self.hash}"

    @property
    def ref(self) -> str:
        """The member's id in outcomes: audience and hash, never the address."""
        return f"member:{self.list_id}/{self.hash}"

    def __repr__(self) -> str:
        return f"Membership(list_id={self.list_id!r}, hash={self.hash!r})"


class MailchimpConnector(ClosingContext):
    """Data-subject operations on every audience (list) of one Mailchimp account."""

    name = NAME
    capabilities = frozenset(Capability) - {Capability.STATUS}

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = ProcessorClient.create(
            processor=NAME,
            base_url=(base_url or data_centre_url(api_key)).rstrip("/"),
            headers={"Accept": "application/json"},
            auth=("dsar", api_key),
            transport=transport,
            limiter=rate if rate is not None else ConcurrencyLimit(10),
            retry=retry,
        )

    def __repr__(self) -> str:
        return "MailchimpConnector()"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    async def _search(self, email: str) -> list[Membership]:
        """Every audience's member for one address, from the account-wide search."""
        _, body = await self._http.request_json(
            "GET",
            SEARCH,
            params={"query": email.strip(), "exclude_fields": SEARCH_EXCLUDES},
            idempotent=True,
        )
        exact = body.get("exact_matches") if isinstance(body, dict) else None
        members = exact.get("members") if isinstance(exact, dict) else None
        if not isinstance(members, list):
            raise ProtocolError("search answer lacks 'exact_matches.members'", processor=NAME)
        total = exact.get("total_items") if isinstance(exact, dict) else None
        if isinstance(total, int) and total > len(members):
            # The search has no paging: memberships it leaves out cannot be reached by it, and
            # acting on some of them only would pass a partial erasure off as complete.
            raise ProtocolError(
                f"search returned {len(members)} of {total} memberships; "
                "the others need to be handled in Mailchimp itself",
                processor=NAME,
            )
        wanted = subscriber_hash(email)
        found: list[Membership] = []
        for member in members:
            if not isinstance(member, dict) or not isinstance(member.get("list_id"), str):
                raise ProtocolError("search match lacks 'list_id'", processor=NAME)
            address = member.get("email_address")
            if not isinstance(address, str):
                raise ProtocolError("search match lacks 'email_address'", processor=NAME)
            if subscriber_hash(address) == wanted:
                found.append(Membership(member["list_id"], wanted, member))
        return found

    async def _find(self, subject: Subject) -> list[Membership]:
        """The person's memberships in every audience, once each, for all their addresses."""
        found: dict[tuple[str, str], Membership] = {}
        for email in subject.emails:
            for membership in await self._search(email):
                found.setdefault((membership.list_id, membership.hash), membership)
        return list(found.values())

    async def locate(self, subject: Subject) -> Located:
        """Find the person's membership in every audience (addresses in any letter case)."""
        found = await self._find(subject)
        return Located(found=bool(found), refs=tuple(m.ref for m in found))

    async def export(self, subject: Subject) -> SubjectData:
        """Each membership: audience, status, merge fields, sign-up and opt-in evidence."""
        records = [
            Record(
                "newsletter_subscription",
                NAME,
                {k: v for k, v in m.member.items() if k != "_links"},
            )
            for m in await self._find(subject)
        ]
        return SubjectData(processor=NAME, records=tuple(records))

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Correct merge fields and the address in every audience; an e-mail change renames the
        member (Art. 16)."""
        unknown = set(changes) - _MERGE_FIELDS.keys() - _ADDRESS_PARTS.keys() - {"email"}
        if unknown:
            raise Unsupported(f"cannot rectify fields {sorted(unknown)}", processor=NAME)
        changed: list[Membership] = []
        fields: set[str] = set()
        without_address = 0
        for membership in await self._find(subject):
            if set(changes) & _ADDRESS_PARTS.keys() and not _has_address(membership.member):
                without_address += 1
            patch = _patch(membership.member, {k: str(v) for k, v in changes.items()})
            if patch:
                await self._http.request("PATCH", membership.path, json=patch, idempotent=True)
                changed.append(membership)
                fields |= _changed_names(patch)
        note = f"changed {sorted(fields)}" if changed else "nothing to change"
        if without_address:
            note += f"; {without_address} member(s) have no address to correct"
        return _outcome(Capability.RECTIFY, changed, note=note)

    async def erase(self, subject: Subject) -> Outcome:
        """Permanently delete the person from every audience (Art. 17); a member already gone
        counts as erased.

        Only members that exist are sent ``delete-permanent``, so a repeat writes nothing. The
        call is repeatable in effect (a second one finds nothing: 404, taken as done), so the
        HTTP layer may resend it after a lost response, and a member that vanishes between
        the search and the deletion is erased all the same.
        """
        erased: list[Membership] = []
        for membership in await self._find(subject):
            response = await self._http.request(
                "POST",
                f"{membership.path}/actions/delete-permanent",
                idempotent=True,
                allow={404},
            )
            if response.status_code != 404:
                erased.append(membership)
        if erased:
            audiences = len({m.list_id for m in erased})
            note = f"member data deleted permanently in {audiences} audience(s)"
        else:
            note = "no member found; nothing to erase"
        return _outcome(Capability.ERASE, erased, note=note)

    async def restrict(self, subject: Subject) -> Outcome:
        """Unsubscribe every mailable membership; those already not mailable are left alone."""
        changed: list[Membership] = []
        for membership in await self._find(subject):
            if str(membership.member.get("status")) in _MAILABLE:
                await self._http.request(
                    "PATCH", membership.path, json={"status": "unsubscribed"}, idempotent=True
                )
                changed.append(membership)
        note = "unsubscribed" if changed else "not subscribed or not found"
        return _outcome(Capability.RESTRICT, changed, note=note)

    async def lift_restriction(self, subject: Subject) -> Outcome:
        """Record the restriction as lifted without re-subscribing anyone.

        Mailchimp holds no restriction mark separate from the subscription, and turning the
        subscription back on would be sending marketing without consent (Art. 6(1)(a), 7);
        the person can subscribe again themselves. So nothing is sent to Mailchimp.
        """
        found = await self._find(subject)
        return Outcome(
            processor=NAME,
            action=Capability.LIFT_RESTRICTION,
            complete=True,
            count=0,
            note="restriction lifted; member stays unsubscribed until they consent again",
            refs=tuple(m.ref for m in found),
        )

    async def status(self, job_ref: str) -> JobStatus:
        """Mailchimp works synchronously here; there are no jobs to follow up."""
        raise Unsupported("Mailchimp operations have no asynchronous jobs", processor=NAME)


def _patch(member: dict[str, Any], wanted: dict[str, str]) -> dict[str, Any]:
    """The PATCH body setting only what differs from the member's current values."""
    patch: dict[str, Any] = {}
    if "email" in wanted and member.get("email_address") != wanted["email"]:
        patch["email_address"] = wanted["email"]
    merge = member.get("merge_fields")
    merge = merge if isinstance(merge, dict) else {}
    fields: dict[str, Any] = {
        tag: wanted[name]
        for name, tag in _MERGE_FIELDS.items()
        if name in wanted and merge.get(tag) != wanted[name]
    }
    address = merge.get("ADDRESS")
    address = address if isinstance(address, dict) and address else {}
    # Only an address on file is corrected: Mailchimp requires a complete ADDRESS, and adding
    # one would collect data the person never gave this list (Art. 5(1)(c)).
    parts = {
        part: wanted[name]
        for name, part in _ADDRESS_PARTS.items()
        if address and name in wanted and address.get(part) != wanted[name]
    }
    if parts:
        fields["ADDRESS"] = {**address, **parts}
    if fields:
        patch["merge_fields"] = fields
    return patch


def _has_address(member: dict[str, Any]) -> bool:
    merge = member.get("merge_fields")
    address = merge.get("ADDRESS") if isinstance(merge, dict) else None
    return isinstance(address, dict) and bool(address)


def _changed_names(patch: dict[str, Any]) -> set[str]:
    """Canonical names of the fields a PATCH body changes, for the outcome's note."""
    names = {"email"} if "email_address" in patch else set()
    merge = patch.get("merge_fields", {})
    names |= {name for name, tag in _MERGE_FIELDS.items() if tag in merge}
    if "ADDRESS" in merge:
        names.add("address")
    return names


def _outcome(action: Capability, changed: list[Membership], *, note: str) -> Outcome:
    return Outcome(
        processor=NAME,
        action=action,
        complete=True,
        count=len(changed),
        note=note,
        refs=tuple(m.ref for m in changed),
    )
