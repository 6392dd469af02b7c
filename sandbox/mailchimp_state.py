"""The Mailchimp emulator's data: one account with several audiences (lists) and their members.

A person may be a member of any number of audiences, each membership a record of its own.
Within an audience members are keyed by ``subscriber_hash``, the MD5 of the lower-cased e-mail
address, so every letter case of an address reaches the same member. ``DELETE`` archives a
member (status ``archived``, still readable); ``delete-permanent`` removes the member and
remembers the hash, so the address can never be added to that audience again through the API
("Forgotten Email Not Subscribed"), as Mailchimp guarantees for permanently deleted contacts.
``search-members`` looks through every audience, or one.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.calllog import CallLog
from sandbox.config import EmulatorConfig

STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived")
WRITABLE_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
MERGE_FIELDS = ("FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY")
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")
_HASH = re.compile(r"^[0-9a-f]{32}$")
NOT_FOUND = "The requested resource could not be found."


def now_utc() -> datetime:
    """Wall-clock time for timestamps in the data."""
    return datetime.now(UTC).replace(microsecond=0)


def subscriber_hash(email: str) -> str:
    """MD5 of the lower-cased address: Mailchimp's member id."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


@dataclass
class Member:
    """One audience member."""

    email_address: str
    status: str
    merge_fields: dict[str, Any] = field(default_factory=dict)
    unique_email_id: str = ""
    web_id: int = 0
    language: str = ""
    vip: bool = False
    ip_signup: str = ""
    timestamp_signup: datetime | None = None
    ip_opt: str = ""
    timestamp_opt: datetime | None = None
    last_changed: datetime = field(default_factory=now_utc)
    location: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    interests: dict[str, bool] = field(default_factory=dict)
    source: str = "API - Generic"
    member_rating: int = 2

    @property
    def id(self) -> str:
        """The subscriber hash."""
        return subscriber_hash(self.email_address)


@dataclass
class Audience:
    """One audience (list): its members by subscriber hash and the addresses it forgot."""

    id: str
    name: str
    members: dict[str, Member] = field(default_factory=dict)
    created: datetime = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
    forgotten: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, list_id: str, name: str, members: Iterable[Member] = ()) -> Audience:
        """An audience holding ``members``."""
        return cls(id=list_id, name=name, members={m.id: m for m in members})


class MailchimpProblem(ValueError):
    """An answer in ``application/problem+json``: ``title``, ``status``, ``detail``."""

    def __init__(
        self, status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors


def _invalid(detail: str, errors: list[dict[str, str]] | None = None) -> MailchimpProblem:
    return MailchimpProblem(400, "Invalid Resource", detail, errors)


def _bad_status() -> MailchimpProblem:
    return _invalid(
        "The resource submitted could not be validated. For field-specific details, "
        "see the 'errors' array.",
        [{"field": "status", "message": "Value must be one of: " + ", ".join(WRITABLE_STATUSES)}],
    )


class MailchimpState:
    """One Mailchimp account: a default audience (``list_id``) and any further ``audiences``.

    ``members``, ``forgotten`` and every method called without ``list_id`` mean the default
    audience. ``bodyless_403_throttle`` makes every throttled request (the concurrency cap, an
    injected throttle) answer as Mailchimp's edge network does at high volume: 403 without a
    body, instead of a 429 problem document.
    """

    def __init__(
        self,
        *,
        list_id: str,
        list_name: str = "Newsletter",
        members: Iterable[Member] = (),
        audiences: Iterable[Audience] = (),
        config: EmulatorConfig | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.calls = CallLog()
        self.list_id = list_id
        self.audiences: dict[str, Audience] = {list_id: Audience.of(list_id, list_name, members)}
        for audience in audiences:
            if audience.id in self.audiences:
                raise ValueError(f"two audiences with the id {audience.id!r}")
            self.audiences[audience.id] = audience
        self.bodyless_403_throttle = False
        self._web_id = 900_000_000

    def settle(self) -> None:
        """Mailchimp answers synchronously: nothing is ever pending."""

    @property
    def members(self) -> dict[str, Member]:
        """The default audience's members by subscriber hash."""
        return self.audiences[self.list_id].members

    @property
    def forgotten(self) -> set[str]:
        """The default audience's permanently deleted subscriber hashes."""
        return self.audiences[self.list_id].forgotten

    @staticmethod
    def resolve(key: str) -> str:
        """A path's member key as a subscriber hash (Mailchimp also accepts the address)."""
        return key.lower() if _HASH.match(key.lower()) else subscriber_hash(key)

    def audience(self, list_id: str | None = None) -> Audience:
        """The audience ``list_id`` (the default one for ``None``), or a 404 problem."""
        found = self.audiences.get(self.list_id if list_id is None else list_id)
        if found is None:
            raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
        return found

    def get(self, key: str, list_id: str | None = None) -> Member | None:
        """A member (archived ones too), or ``None`` (also for an unknown audience)."""
        with self.lock:
            audience = self.audiences.get(self.list_id if list_id is None else list_id)
            return audience.members.get(self.resolve(key)) if audience else None

    def listing(self, status: str | None, list_id: str | None = None) -> list[Member]:
        """Members in insertion order; archived members only when asked for."""
        with self.lock:
            members = list(self.audience(list_id).members.values())
        if status:
            return [m for m in members if m.status == status]
        return [m for m in members if m.status != "archived"]

    def memberships(self, email: str) -> list[tuple[str, Member]]:
        """Every audience's member for one address, as ``(list_id, member)``."""
        ident = subscriber_hash(email)
        with self.lock:
            return [(a.id, a.members[ident]) for a in self.audiences.values() if ident in a.members]

    def search(
        self, query: str, list_id: str | None = None
    ) -> tuple[list[tuple[str, Member]], list[tuple[str, Member]]]:
        """``search-members``: exact matches, then the other partial ones, across audiences.

        A member matches exactly when the query is its address (in any letter case) or its
        first, last or full name; partially when the query appears in any of these.
        """
        wanted = " ".join(query.split()).lower()
        with self.lock:
            scope = list(self.audiences.values()) if list_id is None else [self.audience(list_id)]
            exact: list[tuple[str, Member]] = []
            partial: list[tuple[str, Member]] = []
            for audience in scope:
                for member in audience.members.values():
                    first = str(member.merge_fields.get("FNAME") or "").lower()
                    last = str(member.merge_fields.get("LNAME") or "").lower()
                    names = {first, last, f"{first} {last}".strip()} - {""}
                    address = member.email_address.lower()
                    if wanted and (wanted == address or wanted in names):
                        exact.append((audience.id, member))
                    elif wanted and any(wanted in text for text in (address, *names)):
                        partial.append((audience.id, member))
        return exact, partial

    def add(
        self, body: dict[str, Any], *, key: str | None = None, list_id: str | None = None
    ) -> Member:
        """Create a member (``POST``, or ``PUT`` of a new address)."""
        email = body.get("email_address")
        if not isinstance(email, str) or not EMAIL_PATTERN.match(email.strip()):
            raise _invalid("Please provide a valid email address.")
        with self.lock:
            audience = self.audience(list_id)
            ident = subscriber_hash(email)
            if key is not None and ident != self.resolve(key):
                raise _invalid("The email address does not match the subscriber hash in the URL.")
            if ident in audience.forgotten:
                raise MailchimpProblem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported. The contact "
                    "must re-subscribe to get back on the list.",
                )
            existing = audience.members.get(ident)
            if existing is not None and existing.status != "archived":
                raise MailchimpProblem(
                    400,
                    "Member Exists",
                    f"{email} is already a list member. Use PUT to insert or update list members.",
                )
            status = body.get("status") or body.get("status_if_new")
            if status not in WRITABLE_STATUSES:
                raise _bad_status()
            self._web_id += 1
            moment = now_utc()
            member = Member(
                email_address=email.strip(),
                status=str(status),
                unique_email_id=ident[:10],
                web_id=self._web_id,
                timestamp_signup=moment,
                timestamp_opt=moment if status == "subscribed" else None,
            )
            audience.members[ident] = member
            self._apply(audience, member, {k: v for k, v in body.items() if k != "status"})
            return member

    def update(self, key: str, body: dict[str, Any], list_id: str | None = None) -> Member:
        """Apply a ``PATCH`` (or the update half of a ``PUT``)."""
        with self.lock:
            audience = self.audience(list_id)
            member = audience.members.get(self.resolve(key))
            if member is None:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            self._apply(audience, member, body)
            return member

    def upsert(self, key: str, body: dict[str, Any], list_id: str | None = None) -> Member:
        """``PUT``: update the member if present (archived ones come back), else add it."""
        with self.lock:
            member = self.audience(list_id).members.get(self.resolve(key))
            if member is None:
                return self.add(body, key=key, list_id=list_id)
            email = body.get("email_address")
            if isinstance(email, str) and subscriber_hash(email) != member.id:
                raise _invalid("The email address does not match the subscriber hash in the URL.")
            changes = dict(body)
            changes.pop("status_if_new", None)
            if member.status == "archived" and "status" not in changes:
                changes["status"] = body.get("status_if_new") or "subscribed"
            return self.update(key, changes, list_id)

    def _apply(self, audience: Audience, member: Member, body: dict[str, Any]) -> None:
        status = body.get("status")
        if status is not None and status not in WRITABLE_STATUSES:
            raise _bad_status()
        merge = body.get("merge_fields")
        if merge is not None and (not isinstance(merge, dict) or set(merge) - set(MERGE_FIELDS)):
            raise _invalid(
                "Your merge fields were invalid.",
                [{"field": "merge_fields", "message": "Unknown merge field"}],
            )
        new_email = body.get("email_address")
        if isinstance(new_email, str) and subscriber_hash(new_email) != member.id:
            if not EMAIL_PATTERN.match(new_email.strip()):
                raise _invalid("Please provide a valid email address.")
            if subscriber_hash(new_email) in audience.members:
                raise MailchimpProblem(
                    400, "Member Exists", f"{new_email} is already a list member."
                )
            del audience.members[member.id]
            member.email_address = new_email.strip()
            audience.members[member.id] = member
        elif isinstance(new_email, str):
            member.email_address = new_email.strip()
        if status is not None and status != member.status:
            member.status = str(status)
            if status == "subscribed":
                member.timestamp_opt = now_utc()
        if merge:
            member.merge_fields = {**member.merge_fields, **merge}
        for key in ("language", "vip", "ip_signup", "ip_opt"):
            if key in body:
                setattr(member, key, body[key])
        if isinstance(body.get("interests"), dict):
            member.interests = {**member.interests, **body["interests"]}
        member.last_changed = now_utc()

    def archive(self, key: str, list_id: str | None = None) -> None:
        """``DELETE``: archive the member (repeating it changes nothing)."""
        with self.lock:
            member = self.audience(list_id).members.get(self.resolve(key))
            if member is None:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            member.status = "archived"
            member.last_changed = now_utc()

    def delete_permanent(self, key: str, list_id: str | None = None) -> None:
        """Erase the member and forbid re-adding the address to that audience."""
        with self.lock:
            audience = self.audience(list_id)
            ident = self.resolve(key)
            if ident not in audience.members:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            del audience.members[ident]
            audience.forgotten.add(ident)
