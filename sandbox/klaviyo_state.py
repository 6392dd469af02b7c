"""The Klaviyo emulator's data: profiles, lists, metrics, events and asynchronous jobs.

Plain dataclasses behind one lock; the methods hold Klaviyo's rules. Three kinds of job
complete :attr:`~sandbox.config.EmulatorConfig.async_delay` after they are accepted:

- a **data-privacy deletion** removes every profile matching its one identifier (no status:
  the profile is simply gone); its events stay for reporting, redacted (see :meth:`_delete`);
- a **suppression** job adds a ``USER_SUPPRESSED`` suppression to each listed address's
  profile, creating a suppressed profile for an address never seen; an **unsuppression** job
  removes user suppressions again (bounces and spam complaints stay);
- an **unsubscribe** job sets e-mail marketing consent to ``UNSUBSCRIBED`` and, when the job
  names a list, removes the profiles from that list.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.calllog import CallLog
from sandbox.config import EmulatorConfig
from sandbox.jobs import DeferredJobs
from sandbox.klaviyo_match import matches_all
from sandbox.klaviyo_query import Condition

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
LOCATION_KEYS = (
    "address1", "address2", "city", "country", "latitude", "longitude", "region", "zip",
    "timezone", "ip",
)  # fmt: skip
PROFILE_ATTRIBUTES = (
    "email", "phone_number", "external_id", "first_name", "last_name", "organization",
    "locale", "title", "image", "location", "properties",
)  # fmt: skip


def now_utc() -> datetime:
    """Wall-clock time for timestamps in the data."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """Klaviyo's timestamp format."""
    return moment.isoformat(timespec="seconds") if moment else None


def ulid_like(rng: random.Random) -> str:
    """A 26-character id in Klaviyo's style (Crockford base32, ULID-shaped)."""
    return "01" + "".join(rng.choice(CROCKFORD) for _ in range(24))


@dataclass
class Profile:
    """A Klaviyo profile with its list memberships, consent and suppressions."""

    id: str
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    phone_number: str | None = None
    external_id: str | None = None
    organization: str | None = None
    locale: str | None = None
    title: str | None = None
    image: str | None = None
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)
    last_event_date: datetime | None = None
    location: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)
    list_ids: list[str] = field(default_factory=list)
    email_consent: str = "NEVER_SUBSCRIBED"
    consent_timestamp: datetime | None = None
    suppressions: list[dict[str, str]] = field(default_factory=list)
    sms_consent: str = "NEVER_SUBSCRIBED"
    sms_consent_timestamp: datetime | None = None


@dataclass
class KList:
    """A Klaviyo list."""

    id: str
    name: str
    created: datetime = field(default_factory=now_utc)
    updated: datetime = field(default_factory=now_utc)
    opt_in_process: str = "single_opt_in"


@dataclass
class Metric:
    """The kind of an event ("Placed Order", "Opened Email", ...)."""

    id: str
    name: str
    integration: str = "API"


#: The prefix of the profile id a deleted profile's redacted events carry (no such profile exists).
REDACTED_PROFILE = "redacted-"


@dataclass
class Event:
    """Something a profile did, at a time, with properties."""

    id: str
    profile_id: str
    metric_id: str
    datetime: datetime
    properties: dict[str, Any]
    uuid: str


@dataclass
class BulkJob:
    """A suppression or unsuppression job as Klaviyo reports it."""

    id: str
    type: str
    emails: list[str]
    created_at: datetime = field(default_factory=now_utc)
    status: str = "queued"
    completed_at: datetime | None = None
    completed_count: int = 0
    skipped_count: int = 0


@dataclass
class Deletion:
    """A data-privacy deletion request: which identifier, and what it removed."""

    kind: str
    value: str
    requested_at: datetime = field(default_factory=now_utc)
    completed: bool = False
    removed_profiles: list[str] = field(default_factory=list)


class KlaviyoInputError(ValueError):
    """A write Klaviyo refuses (400 invalid, 404, 409 duplicate_profile)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int = 400,
        code: str = "invalid",
        pointer: str = "/data",
        meta: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.code = code
        self.pointer = pointer
        self.meta = meta


class KlaviyoState:
    """One Klaviyo account."""

    def __init__(
        self,
        *,
        profiles: Iterable[Profile] = (),
        lists: Iterable[KList] = (),
        metrics: Iterable[Metric] = (),
        events: Iterable[Event] = (),
        config: EmulatorConfig | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.calls = CallLog()
        self.jobs = DeferredJobs()
        self.profiles: dict[str, Profile] = {p.id: p for p in profiles}
        self.lists: dict[str, KList] = {k.id: k for k in lists}
        self.metrics: dict[str, Metric] = {m.id: m for m in metrics}
        self.events: dict[str, Event] = {}
        self._events_of: dict[str, list[str]] = {}
        self.bulk_jobs: dict[str, BulkJob] = {}
        self.deletions: list[Deletion] = []
        #: The scopes of the account's private API key; ``None`` is a full-access key.
        self.key_scopes: frozenset[str] | None = None
        self._rng = random.Random(0)
        for event in events:
            self.add_event(event)

    def add_event(self, event: Event) -> None:
        """Store an event and index it by profile."""
        with self.lock:
            self.events[event.id] = event
            self._events_of.setdefault(event.profile_id, []).append(event.id)

    def new_id(self) -> str:
        """A fresh job id."""
        with self.lock:
            return ulid_like(self._rng)

    def settle(self) -> None:
        """Complete the jobs whose time has come."""
        with self.lock:
            self.jobs.run_due(self.config.now())

    # --- reading -------------------------------------------------------------------------

    def get(self, profile_id: str) -> Profile | None:
        """The profile, or ``None``."""
        self.settle()
        with self.lock:
            return self.profiles.get(profile_id)

    def find(self, kind: str, value: str) -> list[Profile]:
        """Profiles whose ``id``, ``email`` (any case) or ``phone_number`` (digits) match."""
        return self.profiles_where([Condition("equals", kind, value)])

    def profiles_where(self, conditions: list[Condition]) -> list[Profile]:
        """Every profile meeting all conditions, by id."""
        self.settle()
        with self.lock:
            found = [
                p for p in self.profiles.values() if matches_all(conditions, _profile_field, p)
            ]
        return sorted(found, key=lambda p: p.id)

    def events_where(self, conditions: list[Condition]) -> list[Event]:
        """Every event meeting all conditions, by time then id."""
        self.settle()
        with self.lock:
            profile_ids = [
                c.value for c in conditions if c.op == "equals" and c.field == "profile_id"
            ]
            if profile_ids:
                pool = [self.events[i] for i in self._events_of.get(str(profile_ids[0]), [])]
            else:
                pool = list(self.events.values())
            found = [e for e in pool if matches_all(conditions, _event_field, e)]
        return sorted(found, key=lambda e: (iso(e.datetime) or "", e.id))

    def lists_of(self, profile: Profile) -> list[KList]:
        """The lists a profile is a member of, by id."""
        with self.lock:
            return sorted(
                (self.lists[i] for i in profile.list_ids if i in self.lists), key=lambda k: k.id
            )

    # --- writing ---------------------------------------------------------------------------

    def update(self, profile_id: str, attributes: dict[str, Any]) -> Profile | None:
        """Apply a ``PATCH`` (``null`` clears a value); ``None`` if the profile is unknown."""
        with self.lock:
            profile = self.get(profile_id)
            if profile is None:
                return None
            self._validate(profile, attributes)
            for key, value in attributes.items():
                if key == "location":
                    profile.location = {**profile.location, **(value or {})} if value else {}
                elif key == "properties":
                    profile.properties = {**profile.properties, **(value or {})} if value else {}
                else:
                    setattr(profile, key, value)
            profile.updated = now_utc()
            return profile

    def _validate(self, profile: Profile, attributes: dict[str, Any]) -> None:
        for key in attributes:
            pointer = f"/data/attributes/{key}"
            if key not in PROFILE_ATTRIBUTES:
                raise KlaviyoInputError(
                    f"'{key}' is not a valid field for the resource 'profile'.", pointer=pointer
                )
            # Value types are the contract's to check (sandbox.klaviyo_contract), before this.
        email, phone = attributes.get("email"), attributes.get("phone_number")
        if email is not None and not EMAIL_PATTERN.match(email):
            raise KlaviyoInputError("Invalid email address", pointer="/data/attributes/email")
        if phone is not None and not E164.match(phone):
            raise KlaviyoInputError(
                "Invalid phone number format (Example of a valid format: +12345678901)",
                pointer="/data/attributes/phone_number",
            )
        for key in ("email", "phone_number", "external_id"):
            value = attributes.get(key)
            if value is None:
                continue
            others = [p for p in self.find(key, value) if p.id != profile.id]
            if others:
                raise KlaviyoInputError(
                    "A profile already exists with one of these identifiers.",
                    status=409,
                    code="duplicate_profile",
                    meta={"duplicate_profile_id": others[0].id},
                )

    def request_deletion(self, kind: str, value: str) -> Deletion:
        """Accept a deletion by ``id``, ``email`` or ``phone_number``; it runs after the delay.

        The identifier is resolved when the job runs, as Klaviyo deletes whatever it holds
        under it at that time.
        """
        with self.lock:
            deletion = Deletion(kind, value)
            self.deletions.append(deletion)
            self._schedule(lambda: self._delete(deletion))
            return deletion

    def _delete(self, deletion: Deletion) -> None:
        for profile in self.find(deletion.kind, deletion.value):
            # Events stay for aggregate reporting: tied to no profile, nothing but the value.
            anonymous = f"{REDACTED_PROFILE}{self.new_id()}"
            for event_id in self._events_of.pop(profile.id, []):
                event = self.events[event_id]
                event.profile_id = anonymous
                event.properties = {k: v for k, v in event.properties.items() if k == "$value"}
            del self.profiles[profile.id]
            deletion.removed_profiles.append(profile.id)
        deletion.completed = True

    def create_bulk_job(self, job_type: str, emails: list[str]) -> BulkJob:
        """Accept a suppression (``...-create-job``) or unsuppression (``...-delete-job``)."""
        with self.lock:
            job = BulkJob(self.new_id(), job_type, list(emails))
            self.bulk_jobs[job.id] = job
            self._schedule(lambda: self._run_bulk(job))
            return job

    def _run_bulk(self, job: BulkJob) -> None:
        suppress = job.type.endswith("create-job")
        for email in job.emails:
            profiles = self.find("email", email)
            if not profiles and suppress:
                # Klaviyo suppresses an address it has never seen by creating a profile for it
                # (so a later import cannot mail it): a person comes into being here
                profile = Profile(id=self.new_id(), email=email)
                self.profiles[profile.id] = profile
                profiles = [profile]
            if not profiles:
                job.skipped_count += 1
                continue
            for profile in profiles:
                user = [s for s in profile.suppressions if s["reason"] == "USER_SUPPRESSED"]
                if suppress and not user:
                    stamp = iso(now_utc()) or ""
                    profile.suppressions.append({"reason": "USER_SUPPRESSED", "timestamp": stamp})
                elif not suppress:
                    profile.suppressions = [s for s in profile.suppressions if s not in user]
                profile.updated = now_utc()
            job.completed_count += 1
        job.status = "complete"
        job.completed_at = now_utc()

    def unsubscribe(
        self, emails: list[str], list_id: str | None, phones: list[str] | None = None
    ) -> None:
        """Accept an unsubscribe job (e-mail by address, SMS by E.164 number); it runs after
        the delay."""
        with self.lock:
            self._schedule(lambda: self._unsubscribe(emails, list_id, phones or []))

    def _unsubscribe(self, emails: list[str], list_id: str | None, phones: list[str]) -> None:
        for phone in phones:
            for profile in self.find("phone_number", phone):
                profile.sms_consent = "UNSUBSCRIBED"
                profile.sms_consent_timestamp = profile.updated = now_utc()
        for email in emails:
            for profile in self.find("email", email):
                profile.email_consent = "UNSUBSCRIBED"
                profile.consent_timestamp = profile.updated = now_utc()
                if list_id is not None and list_id in profile.list_ids:
                    profile.list_ids.remove(list_id)

    def _schedule(self, action: Any) -> None:
        self.jobs.schedule(self.config.now() + self.config.async_delay, action)

    def bulk_job(self, job_type: str, job_id: str) -> BulkJob | None:
        """A job by type and id, after running what is due."""
        self.settle()
        with self.lock:
            job = self.bulk_jobs.get(job_id)
            return job if job is not None and job.type == job_type else None


def _profile_field(profile: Profile, name: str) -> Any:
    return {"created": profile.created, "updated": profile.updated}.get(name) or getattr(
        profile, name, None
    )


def _event_field(event: Event, name: str) -> Any:
    if name in ("datetime", "timestamp"):
        return event.datetime
    return getattr(event, name, None)
