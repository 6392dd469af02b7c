"""The words of the readable report in the person's language (``readable.yaml``): field labels,
processors' codes, dates and amounts."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

_WORDS_FILE = Path(__file__).resolve().parent / "readable.yaml"
_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_CODE = re.compile(r"^[A-Z][A-Z0-9_]+$")


@lru_cache(maxsize=1)
def _all_words() -> dict[str, dict[str, Any]]:
    return dict(yaml.safe_load(_WORDS_FILE.read_text(encoding="utf-8")))


class Words:
    """The words of one language (English where ``language`` has none)."""

    def __init__(self, language: str) -> None:
        table = _all_words()
        self.lang = language if language in table else "en"
        self.table = table[self.lang]

    def __getitem__(self, key: str) -> Any:
        return self.table[key]

    def field(self, path: str, key: str | None = None) -> str:
        """The label of a field: by its dotted path, by its last key, or the key made readable."""
        fields: dict[str, str] = self.table["fields"]
        last = key or path.rsplit(".", 1)[-1]
        return fields.get(path) or fields.get(last) or last.replace("_", " ").capitalize()

    def code(self, value: str) -> str:
        """A processor's code (``PAID``, ``NEVER_SUBSCRIBED``) in words."""
        words: dict[str, str] = self.table["values"]
        upper = value.strip().upper()
        if upper in words:
            return words[upper]
        return value.replace("_", " ").lower() if _CODE.match(value) else value

    def date(self, value: date | datetime | str) -> str:
        """A day as people write it: ``12 March 2024``, ``12. März 2024``."""
        day = value if isinstance(value, date) else parse_date(value)
        if day is None:
            return str(value)
        month = self.table["months"][day.month - 1]
        return (
            f"{day.day}. {month} {day.year}"
            if self.lang == "de"
            else f"{day.day} {month} {day.year}"
        )

    def money(self, amount: object, currency: object) -> str:
        """An amount with two decimals and its currency: ``59.60 EUR``, ``59,60 EUR``."""
        try:
            number = f"{Decimal(str(amount)):.2f}"
        except InvalidOperation:
            number = str(amount)
        if self.lang == "de":
            number = number.replace(".", ",")
        return f"{number} {currency}".strip()


def snake(key: str) -> str:
    """``legacyResourceId`` → ``legacy_resource_id``; ``Campaign Name`` → ``campaign_name``."""
    return _CAMEL.sub("_", key.strip().lstrip("$")).replace(" ", "_").lower()


def parse_date(value: str) -> date | None:
    """The day of an ISO-8601 date or date-time, or ``None`` for any other text."""
    if not _DATE.match(value.strip()):
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except ValueError:
        return None
