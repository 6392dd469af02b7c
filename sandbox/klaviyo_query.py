"""Klaviyo's query language: ``filter`` expressions, ``page[size]`` and ``page[cursor]``.

``filter=equals(email,"x@y.com")``, ``any(id,["a","b"])``, ``greater-than(datetime,
2024-01-01T00:00:00Z)``, combined with ``and(...)`` or top-level commas. Each endpoint says
which fields and operators it accepts; anything else is a 400 pointing at the parameter, as
Klaviyo answers. Cursors are opaque to clients: the sort key of the last item seen, so pages
stay exact while items are deleted between requests.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OPERATORS = (
    "equals",
    "any",
    "greater-than",
    "greater-or-equal",
    "less-than",
    "less-or-equal",
)

_TOKEN = re.compile(
    r"""\s*(?:(?P<dq>"(?:\\.|[^"\\])*")|(?P<sq>'(?:\\.|[^'\\])*')|(?P<punct>[(),\[\]])"""
    r"""|(?P<bare>[^\s(),\[\]"']+))"""
)


class QueryError(ValueError):
    """A query parameter Klaviyo would reject with 400; ``parameter`` names it."""

    def __init__(self, detail: str, *, parameter: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.parameter = parameter


@dataclass(frozen=True)
class Condition:
    """One ``op(field, value)`` test."""

    op: str
    field: str
    value: Any


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise QueryError(f"Invalid filter near position {pos}", parameter="filter")
        pos = match.end()
        if match.group("dq") is not None:
            tokens.append(("value", json.loads(match.group("dq"))))
        elif match.group("sq") is not None:
            inner = match.group("sq")[1:-1].replace("\\'", "'")
            tokens.append(("value", inner))
        elif match.group("punct") is not None:
            tokens.append(("punct", match.group("punct")))
        else:
            tokens.append(("bare", match.group("bare")))
    return tokens


def _bare_value(text: str) -> Any:
    literals: dict[str, Any] = {"true": True, "false": False, "null": None}
    if text in literals:
        return literals[text]
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class _FilterParser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def _next(self) -> tuple[str, Any]:
        if self.pos >= len(self.tokens):
            raise QueryError("Unexpected end of filter", parameter="filter")
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _expect(self, punct: str) -> None:
        kind, value = self._next()
        if kind != "punct" or value != punct:
            raise QueryError(f"Expected '{punct}' in filter", parameter="filter")

    def _peek(self, punct: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("punct", punct)

    def conditions(self) -> list[Condition]:
        found = self._expression()
        while self._peek(","):
            self.pos += 1
            found += self._expression()
        if self.pos != len(self.tokens):
            raise QueryError("Unexpected text after filter", parameter="filter")
        return found

    def _expression(self) -> list[Condition]:
        kind, name = self._next()
        if kind != "bare":
            raise QueryError("Expected an operator in filter", parameter="filter")
        self._expect("(")
        if name == "and":
            found = self._expression()
            while self._peek(","):
                self.pos += 1
                found += self._expression()
            self._expect(")")
            return found
        if name not in OPERATORS:
            raise QueryError(f"'{name}' is not a supported operator", parameter="filter")
        kind, field = self._next()
        if kind != "bare":
            raise QueryError("Expected a field name in filter", parameter="filter")
        self._expect(",")
        value = self._value()
        self._expect(")")
        if name == "any" and not isinstance(value, list):
            raise QueryError("'any' takes a list of values", parameter="filter")
        return [Condition(name, field, value)]

    def _value(self) -> Any:
        kind, token = self._next()
        if kind == "value":
            return token
        if kind == "bare":
            return _bare_value(token)
        if token == "[":  # noqa: S105 - a list opens, not a password
            items: list[Any] = []
            while not self._peek("]"):
                items.append(self._value())
                if self._peek(","):
                    self.pos += 1
            self.pos += 1
            return items
        raise QueryError("Expected a value in filter", parameter="filter")


def parse_filter(text: str | None, allowed: Mapping[str, tuple[str, ...]]) -> list[Condition]:
    """The conditions of a ``filter`` parameter, checked against ``allowed`` (field → ops)."""
    if text is None or not text.strip():
        return []
    conditions = _FilterParser(text).conditions()
    for cond in conditions:
        if cond.field not in allowed:
            raise QueryError(
                f"'{cond.field}' is not a valid field for filtering", parameter="filter"
            )
        if cond.op not in allowed[cond.field]:
            raise QueryError(
                f"'{cond.op}' is not a valid operator for '{cond.field}'", parameter="filter"
            )
    return conditions


def page_size(raw: str | None, *, default: int, maximum: int) -> int:
    """``page[size]``: an integer from 1 to ``maximum``."""
    if raw is None:
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise QueryError(
            f"Page size must be an integer between 1 and {maximum}.", parameter="page[size]"
        )
    return size


def encode_cursor(key: tuple[str, ...]) -> str:
    """An opaque cursor standing for "after the item with this sort key"."""
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[str, ...] | None:
    """The sort key inside a cursor, ``None`` without one; bad cursors are a 400."""
    if not text:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise QueryError("Invalid page cursor.", parameter="page[cursor]") from exc
    if not isinstance(key, list) or not all(isinstance(part, str) for part in key):
        raise QueryError("Invalid page cursor.", parameter="page[cursor]")
    return tuple(key)


def sparse_fields(raw: str | None) -> set[str] | None:
    """``fields[type]=a,b`` as a set, ``None`` when absent."""
    if raw is None:
        return None
    return {f.strip() for f in raw.split(",") if f.strip()}
