"""Whether a profile or an event meets a filter's conditions, compared as Klaviyo compares them."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sandbox.klaviyo_query import Condition


def digits(phone: str | None) -> str:
    """A phone number's digits, to match numbers written differently."""
    return re.sub(r"\D", "", phone or "")


def matches_all(conditions: list[Condition], getter: Any, item: Any) -> bool:
    return all(_test(getter(item, c.field), c) for c in conditions)


def _same(actual: Any, wanted: Any, name: str) -> bool:
    if actual is None or wanted is None:
        return actual is wanted
    if name == "email":
        return str(actual).lower() == str(wanted).lower()
    if name == "phone_number":  # Klaviyo stores E.164 and matches it exactly
        return str(actual) == str(wanted)
    return str(actual) == str(wanted)


def _moment(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _test(actual: Any, cond: Condition) -> bool:
    if cond.op == "equals":
        return _same(actual, cond.value, cond.field)
    if cond.op == "any":
        return any(_same(actual, v, cond.field) for v in cond.value)
    wanted = _moment(cond.value)
    if not isinstance(actual, datetime) or wanted is None:
        return False
    return {
        "greater-than": actual > wanted,
        "greater-or-equal": actual >= wanted,
        "less-than": actual < wanted,
        "less-or-equal": actual <= wanted,
    }[cond.op]
