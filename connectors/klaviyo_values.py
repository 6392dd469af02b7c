"""Reading Klaviyo's JSON:API documents: resources, attributes, consent, phone numbers."""

from __future__ import annotations

import re
from typing import Any

from connectors.errors import ProtocolError

#: The processor these documents come from (as :data:`connectors.klaviyo.NAME`).
NAME = "klaviyo"

_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"\+[1-9]\d{7,14}")


def e164(phone: str) -> str | None:
    """``phone`` in E.164 (``+4366412345678``), the only form Klaviyo stores and matches, or
    ``None`` when it carries no country code (a national number names no one unambiguously)."""
    compact = _PHONE_SEPARATORS.sub("", phone.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    return compact if _E164.fullmatch(compact) else None


def _sms_subscribed(profile: dict[str, Any]) -> bool:
    subscriptions = _dict(_attrs(profile).get("subscriptions"))
    return _dict(_dict(subscriptions.get("sms")).get("marketing")).get("consent") == "SUBSCRIBED"


def _suppressed(profile: dict[str, Any]) -> bool | None:
    """Whether the profile's e-mail is suppressed; ``None`` when Klaviyo did not say."""
    subscriptions = _attrs(profile).get("subscriptions")
    if not isinstance(subscriptions, dict):
        return None
    marketing = _dict(_dict(subscriptions.get("email")).get("marketing"))
    if "suppression" not in marketing:
        return None
    return bool(marketing.get("suppression"))


def _resource(item: object) -> dict[str, Any]:
    """A JSON:API resource object; one without ``id`` breaks the protocol."""
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        raise ProtocolError("resource without id", processor=NAME)
    return item


def _attrs(item: dict[str, Any]) -> dict[str, Any]:
    return _dict(item.get("attributes"))


def _flat(item: dict[str, Any]) -> dict[str, Any]:
    """The resource's id, type and attributes in one mapping, as an export shows them."""
    return {"id": item["id"], "type": item.get("type"), **_attrs(item)}


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
