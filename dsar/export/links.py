"""Download links to a package: issued once, stored only as a hash, counted, then gone.

The package is handed out through a random link token of which only a SHA-256 is stored
(:func:`issue_download`), so a copy of the database opens no package (Art. 32). A link
expires after ``export_ttl_days`` and after ``export_max_downloads`` downloads;
:func:`resolve_download` counts each download and answers an unknown, an expired, an
exhausted and a vanished link alike, so a guesser learns nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, col, select, update

from dsar.errors import InputError, NotFoundError
from dsar.export.records import PackageFile
from dsar.logging import get_logger
from dsar.models import Export, utcnow
from dsar.settings import get_settings

log = get_logger("dsar.export.package")

#: Shown for every link that cannot be served, whatever the reason (unknown, expired, used up).
DOWNLOAD_GONE = "this download link is unknown, expired or used up"

_MAX_TOKEN = 200


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
