"""The Mailchimp connector: one newsletter list's member record for the person.

A member is addressed by the MD5 of the lower-cased e-mail address (Mailchimp's
``subscriber_hash``), so no lookup is needed and letter case does not matter. Erasure is
``actions/delete-permanent``, which removes all personal data synchronously; a 404 means
the member is already gone, which counts as done. Restriction and objection unsubscribe
the member (Art. 18, 21(3) GDPR). Lifting a restriction deliberately does *not*
re-subscribe: a subscription rests on consent (Art. 6(1)(a), 7), and only the person can
give it again, through the list's own double opt-in.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

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


class MailchimpConnector(ClosingContext):
    """Data-subject operations on one Mailchimp audience (list)."""

    name = NAME
    capabilities = frozenset(Capability) - {Capability.STATUS}

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        list_id: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._members = f"/3.0/lists/{list_id}/members"
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

    async def _member(self, email: str) -> dict[str, Any] | None:
        status, body = await self._http.request_json(
            "GET", f"{self._members}/{subscriber_hash(email)}", idempotent=True, allow={404}
        )
        if status == 404:
            return None
        if not isinstance(body, dict) or "email_address" not in body:
            raise ProtocolError("member answer lacks 'email_address'", processor=NAME)
        return body

    async def _find(self, subject: Subject) -> dict[str, dict[str, Any]]:
        """The list's members for the person's e-mail addresses, by subscriber hash."""
        found: dict[str, dict[str, Any]] = {}
        for email in subject.emails:
            key = subscriber_hash(email)
            if key not in found and (member := await self._member(email)) is not None:
                found[key] = member
        return found

    async def locate(self, subject: Subject) -> Located:
        """Find the member for each of the person's e-mail addresses (case-insensitive)."""
        found = await self._find(subject)
        return Located(found=bool(found), refs=tuple(f"member:{h}" for h in found))

    async def export(self, subject: Subject) -> SubjectData:
        """The member record: subscription status, merge fields, sign-up and opt-in evidence."""
        records = [
            Record("newsletter_subscription", NAME, {k: v for k, v in m.items() if k != "_links"})
            for m in (await self._find(subject)).values()
        ]
        return SubjectData(processor=NAME, records=tuple(records))

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Correct merge fields and the address; an e-mail change renames the member (Art. 16)."""
        unknown = set(changes) - _MERGE_FIELDS.keys() - _ADDRESS_PARTS.keys() - {"email"}
        if unknown:
            raise Unsupported(f"cannot rectify fields {sorted(unknown)}", processor=NAME)
        changed: list[str] = []
        fields: set[str] = set()
        without_address = 0
        for key, member in (await self._find(subject)).items():
            if set(changes) & _ADDRESS_PARTS.keys() and not _has_address(member):
                without_address += 1
            patch = _patch(member, {k: str(v) for k, v in changes.items()})
            if patch:
                await self._http.request(
                    "PATCH", f"{self._members}/{key}", json=patch, idempotent=True
                )
                changed.append(key)
                fields |= _changed_names(patch)
        note = f"changed {sorted(fields)}" if changed else "nothing to change"
        if without_address:
            note += f"; {without_address} member(s) have no address to correct"
        return _outcome(Capability.RECTIFY, changed, note=note)

    async def erase(self, subject: Subject) -> Outcome:
        """Permanently delete each member (Art. 17); a member already gone counts as erased.

        Only members that exist are sent ``delete-permanent``, so a repeat writes nothing. The
        call is repeatable in effect (a second one finds nothing: 404, taken as done), so the
        HTTP layer may resend it after a lost response, and a member that vanishes between
        lookup and deletion is erased all the same.
        """
        erased: list[str] = []
        for key in await self._find(subject):
            response = await self._http.request(
                "POST",
                f"{self._members}/{key}/actions/delete-permanent",
                idempotent=True,
                allow={404},
            )
            if response.status_code != 404:
                erased.append(key)
        note = "member data deleted permanently" if erased else "no member found; nothing to erase"
        return _outcome(Capability.ERASE, erased, note=note)

    async def restrict(self, subject: Subject) -> Outcome:
        """Unsubscribe every mailable member; members already not mailable are left alone."""
        changed: list[str] = []
        for key, member in (await self._find(subject)).items():
            if str(member.get("status")) in _MAILABLE:
                await self._http.request(
                    "PATCH",
                    f"{self._members}/{key}",
                    json={"status": "unsubscribed"},
                    idempotent=True,
                )
                changed.append(key)
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
            refs=tuple(f"member:{h}" for h in found),
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


def _outcome(action: Capability, changed: list[str], *, note: str) -> Outcome:
    return Outcome(
        processor=NAME,
        action=action,
        complete=True,
        count=len(changed),
        note=note,
        refs=tuple(f"member:{h}" for h in changed),
    )
