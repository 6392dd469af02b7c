"""Exported records and the tables made of them: what every part of a package is built from.

A connector's export step yields records (:class:`ExportedRecord`: register category, source
system, fields); :class:`SourceResult` says what one recipient's step produced. For
``{category}.csv`` and the report, records of one category are flattened into a
:class:`Table` — nested fields become dotted columns, lists stay JSON text — and CSV cells
that a spreadsheet would run as a formula are neutralised (CSV injection). ``data.json``
keeps every value exactly as exported.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

SOURCE_STATUSES: frozenset[str] = frozenset({"exported", "not_found", "failed"})

SOURCE_COLUMN = "source"

# Spreadsheets run cells starting with these as formulas (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportedRecord:
    """One record a connector exported: its register category, its system, its fields."""

    category: str
    source: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class SourceResult:
    """What one recipient's export step produced (``status`` is one of :data:`SOURCE_STATUSES`)."""

    recipient: str
    status: str
    records: tuple[ExportedRecord, ...]
    note: str = ""


@dataclass(frozen=True)
class PackageFile:
    """A written package: where it is, its SHA-256 and size, and the names inside the zip."""

    path: Path
    sha256: str
    size: int
    files: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """Records of one category flattened to columns; the same shape feeds CSV and HTML."""

    category: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def pairs(self) -> list[tuple[str, str]]:
        """The first row as (field, value) pairs: one record reads better down than across."""
        return list(zip(self.columns, self.rows[0], strict=True)) if self.rows else []


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def dump_json(value: object, *, indent: int | None = None) -> str:
    """``value`` as JSON text, non-ASCII kept, dates and decimals as strings."""
    return json.dumps(value, ensure_ascii=False, indent=indent, default=_json_default)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return dump_json(value)


def flatten(data: Mapping[str, Any]) -> dict[str, str]:
    """One flat row: nested mappings become dotted columns, lists stay as JSON text."""
    row: dict[str, str] = {}

    def walk(prefix: str, mapping: Mapping[str, Any]) -> None:
        for key, value in mapping.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and value:
                walk(f"{name}.", value)
            else:
                row[name] = _cell(value)

    walk("", data)
    return row


def tabulate(category: str, records: Sequence[ExportedRecord]) -> Table:
    """The records of one category as a table: ``source`` first, then the sorted union of fields.

    A record field that itself flattens to ``source`` is kept as ``data.source``.
    """
    rows: list[dict[str, str]] = []
    for record in records:
        row = flatten(record.data)
        if SOURCE_COLUMN in row:
            row[f"data.{SOURCE_COLUMN}"] = row.pop(SOURCE_COLUMN)
        row[SOURCE_COLUMN] = record.source
        rows.append(row)
    fields = sorted({key for row in rows for key in row} - {SOURCE_COLUMN})
    columns = (SOURCE_COLUMN, *fields)
    return Table(category, columns, tuple(tuple(row.get(c, "") for c in columns) for row in rows))


def _csv_safe(cell: str) -> str:
    """Neutralise spreadsheet formulas with a leading ``'``; numbers like ``-5.00`` stay as they
    are. Only the CSV is touched: ``data.json`` keeps every value exactly as exported."""
    if not cell.startswith(_FORMULA_START):
        return cell
    try:
        float(cell)
    except ValueError:
        return f"'{cell}"
    return cell


def render_csv(table: Table) -> bytes:
    """RFC 4180 CSV in UTF-8 (no BOM: the file is for machines first, Art. 20)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    writer.writerows([_csv_safe(cell) for cell in row] for row in table.rows)
    return buffer.getvalue().encode("utf-8")


def category_tables(results: Sequence[SourceResult]) -> list[Table]:
    """One table per category across all results, in category order."""
    by_category: dict[str, list[ExportedRecord]] = {}
    for result in results:
        for record in result.records:
            by_category.setdefault(record.category, []).append(record)
    return [tabulate(category, by_category[category]) for category in sorted(by_category)]
