"""The Mailchimp emulator's data: one audience (list) and its members.

Members are keyed by ``subscriber_hash``, the MD5 of the lower-cased e-mail address, so every
letter case of an address reaches the same member. ``DELETE`` archives a member (status
``archived``, still readable); ``delete-permanent`` removes the member and remembers the hash,
so the address can never be added again through the API ("Forgotten Email Not Subscribed"),
as Mailchimp guarantees for permanently deleted contacts.
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


def now_utc() -> datetime:
    """Wall-clock time for timestamps in the data."""
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime | None) -> str:
    """Mailchimp's timestamp format (empty string when unset, as Mailchimp does)."""
    return moment.isoformat(timespec="seconds") if moment else ""


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


NOT_FOUND = "The requested resource could not be found."


def _invalid(detail: str, errors: list[dict[str, str]] | None = None) -> MailchimpProblem:
    return MailchimpProblem(400, "Invalid Resource", detail, errors)


class MailchimpState:
    """One Mailchimp account with one audience."""

    def __init__(
        self,
        *,
        list_id: str,
        list_name: str = "Newsletter",
        members: Iterable[Member] = (),
        config: EmulatorConfig | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.config = config or EmulatorConfig()
        self.calls = CallLog()
        self.list_id = list_id
        self.list_name = list_name
        self.list_created = datetime(2021, 3, 1, 9, 0, tzinfo=UTC)
        self.members: dict[str, Member] = {m.id: m for m in members}
        self.forgotten: set[str] = set()
        self._web_id = 900_000_000

    def settle(self) -> None:
        """Mailchimp answers synchronously: nothing is ever pending."""

    @staticmethod
    def resolve(key: str) -> str:
        """A path's member key as a subscriber hash (Mailchimp also accepts the address)."""
        return key.lower() if _HASH.match(key.lower()) else subscriber_hash(key)

    def get(self, key: str) -> Member | None:
        """A member (archived ones too), or ``None``."""
        with self.lock:
            return self.members.get(self.resolve(key))

    def listing(self, status: str | None) -> list[Member]:
        """Members in insertion order; archived members only when asked for."""
        with self.lock:
            members = list(self.members.values())
        if status:
            return [m for m in members if m.status == status]
        return [m for m in members if m.status != "archived"]

    def add(self, body: dict[str, Any], *, key: str | None = None) -> Member:
        """Create a member (``POST``, or ``PUT`` of a new address)."""
        email = body.get("email_address")
        if not isinstance(email, str) or not EMAIL_PATTERN.match(email.strip()):
            raise _invalid("Please provide a valid email address.")
        with self.lock:
            ident = subscriber_hash(email)
            if key is not None and ident != self.resolve(key):
                raise _invalid("The email address does not match the subscriber hash in the URL.")
            if ident in self.forgotten:
                raise MailchimpProblem(
                    400,
                    "Forgotten Email Not Subscribed",
                    f"{email} was permanently deleted and cannot be re-imported. The contact "
                    "must re-subscribe to get back on the list.",
                )
            existing = self.members.get(ident)
            if existing is not None and existing.status != "archived":
                raise MailchimpProblem(
                    400,
                    "Member Exists",
                    f"{email} is already a list member. Use PUT to insert or update list members.",
                )
            status = body.get("status") or body.get("status_if_new")
            if status not in WRITABLE_STATUSES:
                raise _invalid(
                    "The resource submitted could not be validated. For field-specific "
                    "details, see the 'errors' array.",
                    [
                        {
                            "field": "status",
                            "message": "Value must be one of: " + ", ".join(WRITABLE_STATUSES),
                        }
                    ],
                )
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
            self.members[ident] = member
            self._apply(member, {k: v for k, v in body.items() if k != "status"})
            return member

    def update(self, key: str, body: dict[str, Any]) -> Member:
        """Apply a ``PATCH`` (or the update half of a ``PUT``)."""
        with self.lock:
            member = self.get(key)
            if member is None:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            self._apply(member, body)
            return member

    def upsert(self, key: str, body: dict[str, Any]) -> Member:
        """``PUT``: update the member if present (archived ones come back), else add it."""
        with self.lock:
            member = self.get(key)
            if member is None:
                return self.add(body, key=key)
            email = body.get("email_address")
            if isinstance(email, str) and subscriber_hash(email) != member.id:
                raise _invalid("The email address does not match the subscriber hash in the URL.")
            changes = dict(body)
            changes.pop("status_if_new", None)
            if member.status == "archived" and "status" not in changes:
                changes["status"] = body.get("status_if_new") or "subscribed"
            return self.update(key, changes)

    def _apply(self, member: Member, body: dict[str, Any]) -> None:
        status = body.get("status")
        if status is not None and status not in WRITABLE_STATUSES:
            raise _invalid(
                "The resource submitted could not be validated. For field-specific details, "
                "see the 'errors' array.",
                [
                    {
                        "field": "status",
                        "message": "Value must be one of: " + ", ".join(WRITABLE_STATUSES),
                    }
                ],
            )
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
            if subscriber_hash(new_email) in self.members:
                raise MailchimpProblem(
                    400, "Member Exists", f"{new_email} is already a list member."
                )
            del self.members[member.id]
            member.email_address = new_email.strip()
            self.members[member.id] = member
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

    def archive(self, key: str) -> None:
        """``DELETE``: archive the member (repeating it changes nothing)."""
        with self.lock:
            member = self.get(key)
            if member is None:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            member.status = "archived"
            member.last_changed = now_utc()

    def delete_permanent(self, key: str) -> None:
        """Erase the member and forbid re-adding the address."""
        with self.lock:
            ident = self.resolve(key)
            if ident not in self.members:
                raise MailchimpProblem(404, "Resource Not Found", NOT_FOUND)
            del self.members[ident]
            self.forgotten.add(ident)

    def member_json(self, member: Member) -> dict[str, Any]:
        """The member object as ``GET .../members/{hash}`` returns it."""
        merge = {name: "" for name in ("FNAME", "LNAME", "PHONE", "BIRTHDAY")}
        merge.update(member.merge_fields)
        full_name = " ".join(str(merge[k]) for k in ("FNAME", "LNAME") if merge.get(k))
        location = {
            "latitude": 0,
            "longitude": 0,
            "gmtoff": 0,
            "dstoff": 0,
            "country_code": "",
            "timezone": "",
            "region": "",
        }
        location.update(member.location)
        return {
            "id": member.id,
            "email_address": member.email_address,
            "unique_email_id": member.unique_email_id,
            "contact_id": member.id,
            "full_name": full_name,
            "web_id": member.web_id,
            "email_type": "html",
            "status": member.status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": merge,
            "interests": dict(member.interests),
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": member.ip_signup,
            "timestamp_signup": iso(member.timestamp_signup),
            "ip_opt": member.ip_opt,
            "timestamp_opt": iso(member.timestamp_opt),
            "member_rating": member.member_rating,
            "last_changed": iso(member.last_changed),
            "language": member.language,
            "vip": member.vip,
            "email_client": "",
            "location": location,
            "marketing_permissions": [],
            "source": member.source,
            "tags_count": len(member.tags),
            "tags": [{"id": 10_000 + i, "name": t} for i, t in enumerate(member.tags)],
            "list_id": self.list_id,
            "_links": [],
        }

    def list_json(self) -> dict[str, Any]:
        """The audience as ``GET /lists/{list_id}`` returns it."""
        with self.lock:
            counts = {s: 0 for s in STATUSES}
            for member in self.members.values():
                counts[member.status] += 1
        return {
            "id": self.list_id,
            "web_id": 100_001,
            "name": self.list_name,
            "contact": {
                "company": "Sandbox Shop",
                "address1": "Musterstraße 1",
                "city": "Wien",
                "zip": "1010",
                "country": "AT",
            },
            "permission_reminder": "You signed up for our newsletter in our shop.",
            "use_archive_bar": False,
            "campaign_defaults": {
                "from_name": "Sandbox Shop",
                "from_email": "newsletter@example.com",
                "subject": "",
                "language": "de",
            },
            "date_created": iso(self.list_created),
            "list_rating": 3,
            "email_type_option": False,
            "visibility": "prv",
            "double_optin": False,
            "marketing_permissions": False,
            "stats": {
                "member_count": counts["subscribed"],
                "unsubscribe_count": counts["unsubscribed"],
                "cleaned_count": counts["cleaned"],
                "member_count_since_send": 0,
                "total_contacts": sum(counts.values()),
            },
            "_links": [],
        }
