"""The Klaviyo connector: e-mail marketing profiles, their list memberships and tracked events.

Klaviyo's JSON:API (revision pinned by header) deletes asynchronously: a data-privacy
deletion job is accepted with 202 and no body, so erasure is pending until the profile can no
longer be fetched. Objection to marketing (Art. 21(3) GDPR) and restriction (Art. 18) both
become a suppression, which stops every e-mail without deleting the evidence of consent that
Art. 7(1) asks the controller to keep; lifting removes the suppression.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
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
from connectors.errors import ProtocolError, Unsupported
from connectors.http import ProcessorClient, RetryPolicy
from connectors.klaviyo_values import (
    NAME,
    _attrs,
    _dict,
    _flat,
    _resource,
    _sms_subscribed,
    _suppressed,
    e164,
)
from connectors.ratelimit import FixedWindows, RateLimiter
from connectors.versions import KLAVIYO_REVISION, check_window, klaviyo_window
from dsar.logging import get_logger

JSONAPI = "application/vnd.api+json"
DELETION = "klaviyo-deletion:"
SUPPRESSION = "klaviyo-suppression:"
UNSUPPRESSION = "klaviyo-unsuppression:"
PAGE_SIZE = 100
#: The first revision whose ``GET /api/events`` takes ``page[size]``; older ones page by 200.
EVENTS_PAGE_SIZE_SINCE = "2026-01-15"

log = get_logger("connectors.klaviyo")
_MAX_PAGES = 10_000

#: Canonical change fields → (attribute, location sub-field or None).
_FIELDS: dict[str, tuple[str, str | None]] = {
    "email": ("email", None),
    "first_name": ("first_name", None),
    "last_name": ("last_name", None),
    "phone": ("phone_number", None),
    "company": ("organization", None),
    "address1": ("location", "address1"),
    "address2": ("location", "address2"),
    "city": ("location", "city"),
    "zip": ("location", "zip"),
    "province": ("location", "region"),
    "country": ("location", "country"),
}
_JOB_DONE = {"complete", "completed"}
#: Ask for subscription state too, so restricting twice can see the first suppression.
_WITH_SUBSCRIPTIONS = {"additional-fields[profile]": "subscriptions"}


class KlaviyoConnector(ClosingContext):
    """Data-subject operations on one Klaviyo account (private API key, pinned revision)."""

    name = NAME
    capabilities = frozenset(Capability)

    def __init__(
        self,
        base_url: str,
        api_key: str,
        revision: str = KLAVIYO_REVISION,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        today: date | None = None,
    ) -> None:
        """Refuses a ``revision`` Klaviyo has retired (naming ``DSAR_KLAVIYO_REVISION``) and
        warns within 60 days of its retirement."""
        warning = check_window(
            klaviyo_window(revision),
            setting="DSAR_KLAVIYO_REVISION",
            today=today or datetime.now(UTC).date(),
        )
        if warning is not None:
            log.warning("api_version_ending", processor=NAME, detail=warning)
        self._revision = revision
        self._http = ProcessorClient.create(
            processor=NAME,
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Klaviyo-API-Key {api_key}",
                "revision": revision,
                "Accept": JSONAPI,
            },
            transport=transport,
            limiter=rate if rate is not None else FixedWindows(),
            retry=retry,
        )

    def __repr__(self) -> str:
        return "KlaviyoConnector()"

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # -- lookups -------------------------------------------------------------------------------

    async def _get(self, url: str, params: dict[str, Any] | None = None) -> Any:
        _, body = await self._http.request_json("GET", url, params=params, idempotent=True)
        return body

    async def _pages(self, url: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item of a collection, following ``links.next`` to the end."""
        items: list[dict[str, Any]] = []
        next_url: str | None = url
        next_params: dict[str, Any] | None = params
        for _ in range(_MAX_PAGES):
            if not next_url:
                return items
            body = _dict(await self._get(next_url, next_params))
            data = body.get("data")
            if not isinstance(data, list):
                raise ProtocolError("collection answer lacks 'data'", processor=NAME)
            items.extend(_resource(item) for item in data)
            next_url, next_params = _dict(body.get("links")).get("next"), None
        raise ProtocolError("pagination does not end", processor=NAME)

    async def _profile(self, profile_id: str) -> dict[str, Any] | None:
        status, body = await self._http.request_json(
            "GET",
            f"/api/profiles/{profile_id}",
            params=_WITH_SUBSCRIPTIONS,
            idempotent=True,
            allow={404},
        )
        return None if status == 404 else _resource(_dict(body).get("data"))

    async def _filter(self, attribute: str, value: str) -> list[dict[str, Any]]:
        if '"' in value or "\\" in value:
            return []  # cannot be a stored e-mail or phone; never splice it into a filter
        params = {
            "filter": f'equals({attribute},"{value}")',
            "page[size]": PAGE_SIZE,
            **_WITH_SUBSCRIPTIONS,
        }
        return await self._pages("/api/profiles", params)

    async def _find(self, subject: Subject) -> dict[str, dict[str, Any]]:
        """Every profile matching any identity, by id.

        Klaviyo stores e-mail addresses as entered; when the exact spelling finds nothing the
        lower-cased one is tried, since mailbox names are case-insensitive in practice.
        """
        found: dict[str, dict[str, Any]] = {}
        if profile_id := subject.customer_ids.get(NAME):
            profile = await self._profile(profile_id)
            if profile is not None:
                found[profile["id"]] = profile
        for email in subject.emails:
            hits = await self._filter("email", email)
            if not hits and email != email.lower():
                hits = await self._filter("email", email.lower())
            for profile in hits:
                if str(_attrs(profile).get("email") or "").lower() == email.lower():
                    found.setdefault(profile["id"], profile)
        for phone in subject.phones:
            number = e164(phone)
            if number is None:
                continue  # Klaviyo holds E.164 only and matches it exactly: nothing to ask
            for profile in await self._filter("phone_number", number):
                found.setdefault(profile["id"], profile)
        return found

    async def locate(self, subject: Subject) -> Located:
        """Find profiles by Klaviyo id, e-mail or phone number."""
        found = await self._find(subject)
        return Located(found=bool(found), refs=tuple(f"profile:{pid}" for pid in found))

    # -- access --------------------------------------------------------------------------------

    async def export(self, subject: Subject) -> SubjectData:
        """Profile, list memberships and every tracked event, one record per item (Art. 15)."""
        records: list[Record] = []
        for pid, profile in (await self._find(subject)).items():
            records.append(Record("profile", NAME, _flat(profile)))
            lists = await self._pages(f"/api/profiles/{pid}/lists", {})
            records.extend(Record("list_memberships", NAME, _flat(item)) for item in lists)
            query: dict[str, Any] = {"filter": f'equals(profile_id,"{pid}")'}
            if self._revision >= EVENTS_PAGE_SIZE_SINCE:  # the revision defines page[size]
                query["page[size]"] = PAGE_SIZE
            events = await self._pages("/api/events", query)
            records.extend(Record("events", NAME, _flat(item)) for item in events)
        return SubjectData(processor=NAME, records=tuple(records))

    # -- rectification ------------------------------------------------------------------------

    async def rectify(self, subject: Subject, changes: Changes) -> Outcome:
        """Correct profile attributes with one PATCH per profile, sending only what differs."""
        unknown = set(changes) - _FIELDS.keys()
        if unknown:
            raise Unsupported(f"cannot rectify fields {sorted(unknown)}", processor=NAME)
        changed: list[str] = []
        fields: set[str] = set()
        for pid, profile in (await self._find(subject)).items():
            attributes = _attrs(profile)
            location = _dict(attributes.get("location"))
            patch: dict[str, Any] = {}
            for key, value in changes.items():
                attribute, sub = _FIELDS[key]
                current = location.get(sub) if sub else attributes.get(attribute)
                if current == value:
                    continue
                fields.add(key)
                if sub:
                    patch.setdefault("location", {})[sub] = value
                else:
                    patch[attribute] = value
            if patch:
                body = {"data": {"type": "profile", "id": pid, "attributes": patch}}
                await self._write("PATCH", f"/api/profiles/{pid}", body)
                changed.append(pid)
        note = f"changed {sorted(fields)}" if changed else "nothing to change"
        return _outcome(Capability.RECTIFY, changed, note=note)

    # -- erasure -------------------------------------------------------------------------------

    async def erase(self, subject: Subject) -> Outcome:
        """Start a data-privacy deletion job per profile (Art. 17); it completes asynchronously.

        The job names the profile by id, the one identifier that cannot match someone else.
        """
        found = await self._find(subject)
        if not found:
            return _outcome(Capability.ERASE, [], note="no profile found; nothing to erase")
        for pid in found:
            body = {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        # the contract requires ``attributes`` on the profile, even when the
                        # id alone names it (and only one identifier may be given)
                        "profile": {"data": {"type": "profile", "id": pid, "attributes": {}}}
                    },
                }
            }
            await self._write("POST", "/api/data-privacy-deletion-jobs", body)
        return Outcome(
            processor=NAME,
            action=Capability.ERASE,
            complete=False,
            count=len(found),
            job_ref=DELETION + "+".join(found),
            note="deletion job accepted; Klaviyo deletes asynchronously",
            refs=tuple(f"profile:{pid}" for pid in found),
        )

    # -- restriction and objection --------------------------------------------------------------

    async def restrict(self, subject: Subject) -> Outcome:
        """Stop marketing by every channel (Art. 18, 21(3)): suppress e-mail to every matching
        profile not suppressed yet, and end the SMS marketing consent of those that have one
        (suppression is e-mail only at Klaviyo)."""
        found = await self._find(subject)
        outcome = await self._suppression(found, suppress=True)
        texts = await self._stop_sms(found)
        if not texts:
            return outcome
        stopped = tuple(f"profile:{pid}" for pid in texts)
        return replace(
            outcome,
            count=outcome.count + len(texts),
            note=f"{outcome.note}; SMS marketing consent ended",
            refs=tuple(dict.fromkeys(outcome.refs + stopped)),
        )

    async def lift_restriction(self, subject: Subject) -> Outcome:
        """Remove the suppression (Art. 18(3)); list subscriptions are left as they are, and an
        ended SMS consent is not given back: only the person can give consent again."""
        return await self._suppression(await self._find(subject), suppress=False)

    async def _stop_sms(self, found: dict[str, dict[str, Any]]) -> list[str]:
        """Unsubscribe from SMS marketing every profile subscribed to it; their ids."""
        todo = {
            pid: number
            for pid, profile in found.items()
            if _sms_subscribed(profile)
            and (number := e164(str(_attrs(profile).get("phone_number") or ""))) is not None
        }
        if not todo:
            return []
        unsubscribed = {"sms": {"marketing": {"consent": "UNSUBSCRIBED"}}}
        profiles = [
            {"type": "profile", "attributes": {"phone_number": n, "subscriptions": unsubscribed}}
            for n in todo.values()
        ]
        job = "profile-subscription-bulk-delete-job"
        body = {"data": {"type": job, "attributes": {"profiles": {"data": profiles}}}}
        await self._write("POST", f"/api/{job}s", body)
        return list(todo)

    async def _suppression(self, found: dict[str, dict[str, Any]], *, suppress: bool) -> Outcome:
        todo = {
            pid: str(_attrs(p).get("email"))
            for pid, p in found.items()
            if _attrs(p).get("email") and _suppressed(p) is not suppress
        }
        action = Capability.RESTRICT if suppress else Capability.LIFT_RESTRICTION
        if not todo:
            note = "no profile found" if not found else "nothing to change"
            return _outcome(action, [], note=note)
        kind = "create" if suppress else "delete"
        job_type = f"profile-suppression-bulk-{kind}-job"
        profiles = [{"type": "profile", "attributes": {"email": e}} for e in todo.values()]
        body = {"data": {"type": job_type, "attributes": {"profiles": {"data": profiles}}}}
        answer = _dict(await self._write("POST", f"/api/{job_type}s", body))
        job = _dict(answer.get("data"))
        done = str(_dict(job.get("attributes")).get("status") or "").lower() in _JOB_DONE
        prefix = SUPPRESSION if suppress else UNSUPPRESSION
        return Outcome(
            processor=NAME,
            action=action,
            complete=done or not job.get("id"),
            count=len(todo),
            job_ref=None if done or not job.get("id") else prefix + str(job["id"]),
            note="suppressed" if suppress else "suppression removed",
            refs=tuple(f"profile:{pid}" for pid in todo),
        )

    # -- jobs ----------------------------------------------------------------------------------

    async def status(self, job_ref: str) -> JobStatus:
        """Deletion: every profile gone. Suppression jobs: Klaviyo reports them complete."""
        if job_ref.startswith(DELETION) and job_ref[len(DELETION) :]:
            pending = 0
            for pid in job_ref[len(DELETION) :].split("+"):
                if await self._profile(pid) is not None:
                    pending += 1
            if pending:
                return JobStatus(job_ref, complete=False, note=f"{pending} profile(s) remain")
            return JobStatus(job_ref, complete=True, note="profiles deleted")
        for prefix, kind in ((SUPPRESSION, "create"), (UNSUPPRESSION, "delete")):
            if job_ref.startswith(prefix) and job_ref[len(prefix) :]:
                job = _resource(
                    _dict(
                        await self._get(
                            f"/api/profile-suppression-bulk-{kind}-jobs/{job_ref[len(prefix) :]}"
                        )
                    ).get("data")
                )
                state = str(_attrs(job).get("status") or "unknown").lower()
                return JobStatus(job_ref, complete=state in _JOB_DONE, note=f"job {state}")
        raise Unsupported("not a Klaviyo job reference", processor=NAME)

    async def _write(self, method: str, url: str, body: dict[str, Any]) -> Any:
        """Send a JSON:API body.

        PATCH sets a state and the jobs posted here (deletion, suppression) are idempotent at
        Klaviyo: a second job for the same profile finds nothing more to do. So a write is safe
        to repeat after a lost response.
        """
        _, answer = await self._http.request_json(
            method, url, json=body, headers={"Content-Type": JSONAPI}, idempotent=True
        )
        return answer


def _outcome(action: Capability, changed: list[str], *, note: str) -> Outcome:
    return Outcome(
        processor=NAME,
        action=action,
        complete=True,
        count=len(changed),
        note=note,
        refs=tuple(f"profile:{pid}" for pid in changed),
    )
