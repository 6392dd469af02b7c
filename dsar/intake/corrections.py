"""Rectification carries its values (Art. 16): which fields to correct, and to what.

The contact form sends them as ``corrections`` (JSON: an object of field → new value; a plain
HTML form: one ``correct_<field>`` input per field); the verification page asks for them when a
rectification arrived without any, and a rectification is never carried out empty. The values
are stored as the request's ``details["changes"]``, which the connectors and Art. 19 notices
read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from dsar.audit import append_event
from dsar.enums import RequestKind
from dsar.models import Request

#: The fields a rectification may correct, as the connectors name them.
CORRECTABLE: tuple[str, ...] = (
    "first_name", "last_name", "email", "phone", "address1", "address2", "city", "zip",
    "country",
)  # fmt: skip
#: The prefix of a correction's input in a plain HTML form: ``correct_last_name``.
FORM_PREFIX = "correct_"
MAX_VALUE = 200


def check_corrections(value: object) -> dict[str, str]:
    """Validated corrections: known fields, non-empty text values; ``ValueError`` otherwise.

    The message names fields and rules, never the values (they are someone's data).
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        # ValueError, not TypeError: pydantic reports only ValueErrors as a field's problem
        raise ValueError('an object of field to new value, e.g. {"last_name": "..."}')  # noqa: TRY004
    checked: dict[str, str] = {}
    for field, new in value.items():
        if field not in CORRECTABLE:
            raise ValueError(f"unknown field {field!r}; correctable: {', '.join(CORRECTABLE)}")
        if not isinstance(new, str | int) or isinstance(new, bool):
            raise ValueError(f"{field}: the new value must be text")  # noqa: TRY004
        text = str(new).strip()
        if not text:
            continue  # a field left blank on a form is not a correction
        if len(text) > MAX_VALUE or "\x00" in text:
            raise ValueError(f"{field}: at most {MAX_VALUE} characters, no NUL")
        checked[field] = text
    return checked


def form_corrections(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``correct_<field>`` inputs of a plain form as a ``corrections`` object."""
    return {
        key.removeprefix(FORM_PREFIX): value
        for key, value in fields.items()
        if isinstance(key, str) and key.startswith(FORM_PREFIX)
    }


def needs_corrections(request: Request) -> bool:
    """A rectification that does not yet say what to correct."""
    return request.kind is RequestKind.RECTIFICATION and not request.details.get("changes")


def store_corrections(
    session: Session, *, request: Request, changes: Mapping[str, str], actor: str
) -> None:
    """Record the values to correct on the request (the audit event names the fields only)."""
    request.details = {**request.details, "changes": dict(changes)}
    session.add(request)
    append_event(
        session,
        action="corrections_given",
        actor=actor,
        request_id=request.id,
        data={"fields": sorted(changes)},
    )
