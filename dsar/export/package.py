"""The package a data subject downloads after an access (Art. 15) or portability (Art. 20) request.

A zip, written atomically into the exports folder, holding:

* ``data.json``: every exported record, grouped by source and category, machine-readable;
* ``{category}.csv``: one table per category (nested fields as dotted columns, lists as JSON;
  :mod:`dsar.export.records`);
* ``report.html`` (access only): a self-contained page a person can read without training — the
  copy of the data per recipient, then the Art. 15(1)(a)–(h) facts taken from the processing
  register, in English or German (:mod:`dsar.export.report`).

Portability packages hold only categories the subject provided (Art. 20(1); WP242 rev.01) and no
report: the right is to a structured, machine-readable copy (EDPB Guidelines 01/2022 §156).

The package is handed out through a random link token of which only a hash is stored
(:func:`issue_download`); :func:`resolve_download` counts downloads and answers an unknown, an
expired and an exhausted link alike, so a guesser learns nothing (:mod:`dsar.export.links`).
This module is where callers import all of it from.

Log lines carry ids and counts only; the data itself never reaches a log.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsar.enums import RequestKind
from dsar.errors import InputError
from dsar.export.records import (
    SOURCE_STATUSES,
    PackageFile,
    SourceResult,
    category_tables,
    dump_json,
    render_csv,
)
from dsar.export.report import (
    render_report,
)
from dsar.logging import get_logger
from dsar.register import Register

log = get_logger("dsar.export.package")

REPORT_FILE = "report.html"
DATA_FILE = "data.json"

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_NAME = 200


# --------------------------------------------------------------------------------------------
# File names
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
    received: Mapping[str, Sequence[str]] | None = None,
    regime: str | None = None,
) -> PackageFile:
    """Write the access or portability package for ``request_id`` and return where it is.

    ``notified`` lists the recipients told of the request under Art. 19, by register key or by
    name (a value that is no key is shown as given); the report names them (Art. 19 sentence 2).
    ``received`` maps the recipients known to have received the person's data to the evidence.
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
        dump_json([record.data for result in results for record in result.records])
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
        received=received,
        regime=regime,
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
    received: Mapping[str, Sequence[str]] | None = None,
    regime: str | None = None,
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
            received=received,
            regime=regime,
        )
        members.append((REPORT_FILE, html.encode("utf-8")))
    document = package_data(
        request_id=request_id, kind=kind, register=register, results=results, now=now
    )
    members.append((DATA_FILE, dump_json(document, indent=2).encode("utf-8")))
    for table in category_tables(results):
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
