"""The Mailchimp emulator's answers: members, audiences and search results as Mailchimp writes
them, and the ``fields`` / ``exclude_fields`` filters every read operation accepts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sandbox.mailchimp_state import STATUSES, Audience, Member


def iso(moment: datetime | None) -> str:
    """Mailchimp's timestamp format (empty string when unset, as Mailchimp does)."""
    return moment.isoformat(timespec="seconds") if moment else ""


def member_json(member: Member, list_id: str) -> dict[str, Any]:
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
        "list_id": list_id,
        "_links": [],
    }


def list_json(audience: Audience, web_id: int) -> dict[str, Any]:
    """The audience as ``GET /lists/{list_id}`` returns it."""
    counts = dict.fromkeys(STATUSES, 0)
    for member in list(audience.members.values()):
        counts[member.status] += 1
    return {
        "id": audience.id,
        "web_id": web_id,
        "name": audience.name,
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
        "date_created": iso(audience.created),
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


def search_json(
    exact: list[tuple[str, Member]], partial: list[tuple[str, Member]]
) -> dict[str, Any]:
    """The ``search-members`` answer: each match is a whole member naming its ``list_id``."""
    return {
        "exact_matches": {
            "members": [member_json(m, list_id) for list_id, m in exact],
            "total_items": len(exact),
        },
        "full_search": {
            "members": [member_json(m, list_id) for list_id, m in partial],
            "total_items": len(partial),
        },
        "_links": [],
    }


def select_fields(doc: dict[str, Any], fields: str | None, excluded: str | None) -> dict[str, Any]:
    """Apply ``fields`` / ``exclude_fields``: comma-separated dotted paths into the answer.

    A path steps through arrays into their items, as Mailchimp's do:
    ``exact_matches.members._links`` removes the links of every member found.
    """

    def paths(raw: str | None) -> list[list[str]]:
        items = [p.strip() for p in (raw or "").split(",") if p.strip()]
        return [p.split(".") for p in items]

    def pick(node: Any, wanted: list[list[str]]) -> Any:
        if isinstance(node, list):
            return [pick(item, wanted) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            rest = [p[1:] for p in wanted if p[0] == key]
            if rest:
                out[key] = value if any(not r for r in rest) else pick(value, rest)
        return out

    def drop(node: Any, unwanted: list[list[str]]) -> Any:
        if isinstance(node, list):
            return [drop(item, unwanted) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            rest = [p[1:] for p in unwanted if p[0] == key]
            if any(not r for r in rest):
                continue
            out[key] = drop(value, rest) if rest else value
        return out

    wanted, unwanted = paths(fields), paths(excluded)
    result = pick(doc, wanted) if wanted else doc
    return drop(result, unwanted) if unwanted else result
