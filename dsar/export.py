"""The package a data subject downloads after an access (Art. 15) or portability (Art. 20) request.

A zip, written atomically into the exports folder, holding:

* ``data.json``: every exported record, grouped by source and category, machine-readable;
* ``{category}.csv``: one table per category (nested fields as dotted columns, lists as JSON);
* ``report.html`` (access only): a self-contained page a person can read without training — the
  copy of the data per recipient, then the Art. 15(1)(a)–(h) facts taken from the processing
  register, in English or German.

Portability packages hold only categories the subject provided (Art. 20(1); WP242 rev.01) and no
report: the right is to a structured, machine-readable copy (EDPB Guidelines 01/2022 §156).

The package is handed out through a random link token of which only a hash is stored
(:func:`issue_download`); :func:`resolve_download` counts downloads and answers an unknown, an
expired and an exhausted link alike, so a guesser learns nothing.

Log lines carry ids and counts only; the data itself never reaches a log.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import Session, col, select, update

from dsar.enums import RequestKind
from dsar.errors import InputError, NotFoundError
from dsar.logging import get_logger
from dsar.models import Export, utcnow
from dsar.register import EEA_COUNTRIES, Register, parse_duration
from dsar.settings import get_settings

log = get_logger("dsar.export")

SOURCE_STATUSES: frozenset[str] = frozenset({"exported", "not_found", "failed"})

REPORT_FILE = "report.html"
DATA_FILE = "data.json"
SOURCE_COLUMN = "source"

#: Shown for every link that cannot be served, whatever the reason (unknown, expired, used up).
DOWNLOAD_GONE = "this download link is unknown, expired or used up"

_TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_NAME = 200
_MAX_TOKEN = 200
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


# --------------------------------------------------------------------------------------------
# File names and flattening
# --------------------------------------------------------------------------------------------


def safe_filename(name: str) -> str:
    """The name every written file goes through.

    A name that tries to leave its folder — containing ``/``, ``\\`` or NUL, consisting only of
    dots (``.``, ``..``), starting with a drive letter (``C:``), empty or longer than 200
    characters — is **rejected** with :class:`InputError`: it is a bug or an attack, never
    something to repair silently. Any other character outside ``[A-Za-z0-9._-]`` is
    **replaced** by ``_`` (``"a b.csv"`` → ``"a_b.csv"``).
    """
    if not name or len(name) > _MAX_NAME:
        raise InputError("a file name must have 1 to 200 characters")
    if any(c in name for c in ("/", "\\", "\0")) or _DRIVE.match(name) or set(name) == {"."}:
        raise InputError("a file name must not contain a path (/, \\, NUL, drive, '..')")
    return _NAME_UNSAFE.sub("_", name)


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _json(value: object, *, indent: int | None = None) -> str:
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
    return _json(value)


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


# --------------------------------------------------------------------------------------------
# Building the package
# --------------------------------------------------------------------------------------------


def build_package(
    *,
    request_id: str,
    kind: RequestKind,
    language: str,
    register: Register,
    results: Sequence[SourceResult],
    out_dir: Path,
    now: datetime,
    notified: Sequence[str] = (),
) -> PackageFile:
    """Write the access or portability package for ``request_id`` and return where it is.

    ``notified`` lists the recipients told of the request under Art. 19, by register key or by
    name (a value that is no key is shown as given); the report names them (Art. 19 sentence 2).
    The zip is written to a temporary file in ``out_dir`` and moved into place, so a reader never
    sees half a package.
    """
    if kind not in (RequestKind.ACCESS, RequestKind.PORTABILITY):
        raise InputError(f"a package answers access or portability, not {kind.value!r}")
    if now.utcoffset() is None:
        raise InputError("now must be timezone-aware")
    for result in results:
        if result.status not in SOURCE_STATUSES:
            raise InputError(f"unknown export status {result.status!r} of {result.recipient!r}")
    try:
        _json([record.data for result in results for record in result.records])
    except (TypeError, ValueError) as exc:  # ValueError: circular reference
        raise InputError("exported data is not JSON-serialisable") from exc
    if kind is RequestKind.PORTABILITY:
        provided = {c.key for c in register.categories if c.provided_by_subject}
        results = [_only(result, provided) for result in results]

    members = _members(
        request_id=request_id,
        kind=kind,
        language=language,
        register=register,
        results=results,
        now=now,
        notified=notified,
    )
    names = [name for name, _ in members]
    if len(set(names)) != len(names):
        raise InputError("two files in the package would share one name")

    target = out_dir / safe_filename(f"{request_id}-{kind.value}.zip")
    digest, size = _write_zip_atomically(target, members, now)
    log.info(
        "export_package_built",
        request_id=request_id,
        kind=kind.value,
        files=len(members),
        size=size,
    )
    return PackageFile(path=target, sha256=digest, size=size, files=tuple(names))


def _members(
    *,
    request_id: str,
    kind: RequestKind,
    language: str,
    register: Register,
    results: Sequence[SourceResult],
    now: datetime,
    notified: Sequence[str],
) -> list[tuple[str, bytes]]:
    """(name, bytes) of every file in the package, in the order they are written."""
    members: list[tuple[str, bytes]] = []
    if kind is RequestKind.ACCESS:
        html = render_report(
            request_id=request_id,
            language=language,
            register=register,
            results=results,
            now=now,
            notified=notified,
        )
        members.append((REPORT_FILE, html.encode("utf-8")))
    document = package_data(
        request_id=request_id, kind=kind, register=register, results=results, now=now
    )
    members.append((DATA_FILE, _json(document, indent=2).encode("utf-8")))
    for table in _tables(results):
        members.append((safe_filename(f"{table.category}.csv"), render_csv(table)))
    return members


def package_data(
    *,
    request_id: str,
    kind: RequestKind,
    register: Register,
    results: Sequence[SourceResult],
    now: datetime,
) -> dict[str, Any]:
    """The content of ``data.json``: every source's status and its records by category."""
    ctl = register.controller
    sources = []
    for result in results:
        by_category: dict[str, list[Mapping[str, Any]]] = {}
        for record in result.records:
            by_category.setdefault(record.category, []).append(dict(record.data))
        sources.append(
            {
                "recipient": result.recipient,
                "status": result.status,
                "note": result.note,
                "records_by_category": by_category,
            }
        )
    return {
        "request_id": request_id,
        "kind": kind.value,
        "generated_at": now.astimezone(UTC).isoformat(),
        "controller": {
            "key": ctl.key,
            "name": ctl.name,
            "address": ctl.address,
            "country": ctl.country,
            "privacy_email": str(ctl.privacy_email),
        },
        "sources": sources,
    }


def _only(result: SourceResult, categories: set[str]) -> SourceResult:
    kept = tuple(r for r in result.records if r.category in categories)
    return SourceResult(result.recipient, result.status, kept, result.note)


def _tables(results: Sequence[SourceResult]) -> list[Table]:
    by_category: dict[str, list[ExportedRecord]] = {}
    for result in results:
        for record in result.records:
            by_category.setdefault(record.category, []).append(record)
    return [tabulate(category, by_category[category]) for category in sorted(by_category)]


def _write_zip_atomically(
    target: Path, members: Sequence[tuple[str, bytes]], now: datetime
) -> tuple[str, int]:
    """Write to a private temp file beside ``target``, fsync, then ``os.replace``."""
    out_dir = target.parent
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    out_dir.chmod(0o700)
    stamp = now.astimezone(UTC).timetuple()[:6]
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as handle:
            with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name, payload in members:
                    info = zipfile.ZipInfo(name, date_time=stamp)
                    info.compress_type = zipfile.ZIP_DEFLATED
                    info.external_attr = 0o600 << 16
                    archive.writestr(info, payload)
            handle.flush()
            os.fsync(handle.fileno())
            handle.seek(0)
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
            size = handle.tell()
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return digest, size


# --------------------------------------------------------------------------------------------
# The human-readable report (access only)
# --------------------------------------------------------------------------------------------

#: Languages the report template has texts for; anything else gets English.
REPORT_LANGUAGES: tuple[str, ...] = ("en", "de")

#: ``Purpose.source`` values meaning "collected from the subject"; others are named (15(1)(g)).
_FROM_SUBJECT = frozenset({"data subject", "the data subject", "subject", "you"})


@dataclass(frozen=True)
class RecipientSection:
    """One recipient as the report shows it: who it is, what it got, what it holds of the subject.

    ``state`` is ``data`` (records below), ``none_found``, ``failed`` (to follow), ``manual`` (no
    interface to query) or ``not_queried``.
    """

    key: str
    name: str
    address: str
    country: str
    in_eea: bool | None
    role: str
    safeguard: str
    categories: tuple[str, ...]
    state: str
    note: str
    tables: tuple[Table, ...]


def report_language(language: str) -> str:
    """``de``, ``de-AT`` and ``de_DE`` give German; an unsupported language gives English."""
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return code if code in REPORT_LANGUAGES else "en"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape on: processor data may contain markup, which must show as text, never run.
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    *,
    request_id: str,
    language: str,
    register: Register,
    results: Sequence[SourceResult],
    now: datetime,
    notified: Sequence[str] = (),
) -> str:
    """The access report: the copy of the data per recipient, then Art. 15(1)(a)–(h)."""
    ctl = register.controller
    names = {c.key: c.name for c in register.categories}
    purposes = [
        {
            "description": p.description,
            "legal_basis": p.legal_basis,
            "categories": [names.get(c, c) for c in p.categories],
            "retention": p.retention,
            "source": p.source,
            "automated_decision_making": p.automated_decision_making,
        }
        for p in register.purposes
    ]
    exceptions = [
        {
            "category": names.get(e.category, e.category),
            "ground": e.ground,
            "law": e.law,
            "period": parse_duration(e.period),
            "from_year_end": e.from_year_end,
            "description": e.description,
        }
        for e in register.retention_exceptions
    ]
    known = {r.key: r.name for r in register.recipients}
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang=report_language(language),
        request_id=request_id,
        generated=now.astimezone(ZoneInfo(ctl.timezone)).strftime("%Y-%m-%d %H:%M %Z"),
        controller=ctl,
        authority=ctl.supervisory_authority,
        found_any=any(result.records for result in results),
        sections=recipient_sections(register, results),
        categories=register.categories,
        purposes=purposes,
        indirect_sources=[
            p for p in purposes if str(p["source"]).strip().lower() not in _FROM_SUBJECT
        ],
        automated=[
            p for p in purposes if str(p["automated_decision_making"]).strip().lower() != "none"
        ],
        retention_exceptions=exceptions,
        notified=[known.get(key, key) for key in notified],
        show_notified=bool(notified),
    )


def recipient_sections(
    register: Register, results: Sequence[SourceResult]
) -> list[RecipientSection]:
    """Every register recipient in register order, then any source the register does not name."""
    names = {c.key: c.name for c in register.categories}
    by_recipient: dict[str, list[SourceResult]] = {}
    for result in results:
        by_recipient.setdefault(result.recipient, []).append(result)
    sections = []
    for r in register.recipients:
        found = by_recipient.pop(r.key, [])
        sections.append(
            RecipientSection(
                key=r.key,
                name=r.name,
                address=r.address,
                country=r.country,
                in_eea=r.country in EEA_COUNTRIES,
                role=r.role.value,
                safeguard=r.transfer_safeguard,
                categories=tuple(names.get(c, c) for c in r.categories),
                state=_state(found, manual=r.connector == "manual"),
                note=" ".join(x.note for x in found if x.note),
                tables=_named_tables(found, names),
            )
        )
    for key, found in by_recipient.items():
        sections.append(
            RecipientSection(
                key=key,
                name=key,
                address="",
                country="",
                in_eea=None,
                role="",
                safeguard="",
                categories=(),
                state=_state(found, manual=False),
                note=" ".join(x.note for x in found if x.note),
                tables=_named_tables(found, names),
            )
        )
    return sections


def _state(found: Sequence[SourceResult], *, manual: bool) -> str:
    if not found:
        return "manual" if manual else "not_queried"
    if any(result.records for result in found):
        return "data"
    if any(result.status == "failed" for result in found):
        return "failed"
    return "none_found"


def _named_tables(found: Sequence[SourceResult], names: Mapping[str, str]) -> tuple[Table, ...]:
    return tuple(replace(t, category=names.get(t.category, t.category)) for t in _tables(found))


# --------------------------------------------------------------------------------------------
# Download links
# --------------------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_download(
    session: Session,
    *,
    request_id: str,
    package: PackageFile,
    now: datetime | None = None,
    ttl_days: int | None = None,
    max_downloads: int | None = None,
) -> tuple[Export, str]:
    """Store an :class:`Export` for ``package`` and return it with the plain link token.

    The token (``secrets.token_urlsafe(32)``, 256 bits) is returned once and only its SHA-256 is
    stored, so a copy of the database opens no package (Art. 32). Defaults come from the
    settings (``export_ttl_days``, ``export_max_downloads``). Flushes; the caller commits.
    """
    settings = get_settings()
    now = now if now is not None else utcnow()
    if now.utcoffset() is None:
        raise InputError("now must be timezone-aware")
    ttl = settings.export_ttl_days if ttl_days is None else ttl_days
    limit = settings.export_max_downloads if max_downloads is None else max_downloads
    if ttl < 1 or limit < 1:
        raise InputError("a download needs at least one day and at least one download")
    token = secrets.token_urlsafe(32)
    export = Export(
        request_id=request_id,
        token_hash=_token_hash(token),
        path=str(package.path),
        sha256=package.sha256,
        size=package.size,
        created_at=now,
        expires_at=now + timedelta(days=ttl),
        max_downloads=limit,
    )
    session.add(export)
    session.flush()
    log.info("export_issued", request_id=request_id, export_id=export.id, max_downloads=limit)
    return export, token


def download_url(token: str, public_url: str) -> str:
    """The link the subject receives: ``{public_url}/exports/{token}``."""
    return f"{public_url.rstrip('/')}/exports/{token}"


def _refusal(export: Export, now: datetime) -> str:
    """Why ``export`` cannot be served at ``now`` (for the log only), or ``""``."""
    if export.expires_at <= now:
        return "expired"
    if export.downloads >= export.max_downloads:
        return "exhausted"
    if not Path(export.path).is_file():
        return "missing"
    return ""


def resolve_download(session: Session, *, token: str, now: datetime | None = None) -> Export:
    """The export a link token opens, counting this download.

    Unknown, expired, used-up and vanished packages all raise the same :class:`NotFoundError`
    (:data:`DOWNLOAD_GONE`), so probing links reveals nothing. The count is a conditional
    ``UPDATE``, so two simultaneous downloads cannot both take the last one. Flushes; the caller
    commits.
    """
    now = now if now is not None else utcnow()
    if now.utcoffset() is None:
        raise InputError("now must be timezone-aware")
    if not token or len(token) > _MAX_TOKEN:
        raise NotFoundError(DOWNLOAD_GONE)
    export = session.exec(select(Export).where(Export.token_hash == _token_hash(token))).first()
    if export is None:
        log.info("export_refused", reason="unknown")
        raise NotFoundError(DOWNLOAD_GONE)
    reason = _refusal(export, now)
    if not reason:
        counted = session.exec(
            update(Export)
            .where(
                col(Export.id) == export.id,
                col(Export.downloads) < col(Export.max_downloads),
                col(Export.expires_at) > now,
            )
            .values(downloads=col(Export.downloads) + 1)
        )
        reason = "" if counted.rowcount == 1 else "exhausted"
    if reason:
        log.info("export_refused", export_id=export.id, request_id=export.request_id, reason=reason)
        raise NotFoundError(DOWNLOAD_GONE)
    session.refresh(export)
    log.info(
        "export_downloaded",
        export_id=export.id,
        request_id=export.request_id,
        downloads=export.downloads,
    )
    return export
