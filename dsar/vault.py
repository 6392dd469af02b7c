"""The retention vault: records the law obliges the shop to keep after an erasure (Art. 17(3)(b)).

Before an erasure destroys records under a retention duty of the register (orders under § 132 BAO
/ § 212 UGB), the engine copies exactly those records here, one :class:`VaultRecord` per record,
and only then erases at the processor. Each record carries its category, ground, law and
``retain_until`` — counted from the record itself (:func:`retain_until`), not from the request —
in clear; its content (for an order: number, date, line items, amounts, taxes, currency, payment
method, billing name and address) only as a Fernet token (:mod:`cryptography`), so the database
file shows nothing of it without the key.

The key is ``DSAR_VAULT_KEY``. In development, when it is unset, one is generated on first use
and kept in ``DSAR_HOME/vault.key`` (mode 0600) with a warning; in production a missing key is a
:class:`~dsar.settings.ConfigurationError`.

The content never leaves this module except through :func:`open_content` (which nothing but
tests and a staff member's explicit look may call): listings (:func:`listing`), step results,
logs and exports carry ids, categories, grounds and dates only. :func:`purge_due` destroys the
records whose period has ended, once, with an audit event per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from dsar.audit import append_event
from dsar.columns import UTCDateTime
from dsar.errors import InputError
from dsar.models import new_id, utcnow
from dsar.register import RetentionException
from dsar.settings import ConfigurationError, Settings, get_settings

log = logging.getLogger("dsar.vault")

#: The generated development key, under ``DSAR_HOME``.
KEY_FILE = "vault.key"


class VaultRecord(SQLModel, table=True):
    """One retained record: what it is and until when in clear, its content encrypted.

    ``record_key`` is a hash of the processor's id of the record (never the order number), so
    that storing the same record for the same request twice is refused by the database.
    """

    __table_args__ = (
        UniqueConstraint("request_id", "record_key", name="uq_vaultrecord_request_record"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    recipient: str = Field(max_length=64)
    category: str = Field(max_length=64)
    ground: str = Field(max_length=200)
    law: str = Field(max_length=200)
    record_key: str = Field(max_length=64)
    retain_until: date = Field(index=True)
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


# ------------------------------------------------------------------------------------------
# The period
# ------------------------------------------------------------------------------------------


def retain_until(exception: RetentionException, record_day: date) -> date:
    """The last day a record dated ``record_day`` must be kept under ``exception``.

    § 132 BAO / § 212 UGB: seven years from the end of the calendar year of the record, so an
    order of 2026-03-10 is kept until 2033-12-31.
    """
    return exception.retention_end(record_day)


# ------------------------------------------------------------------------------------------
# The key
# ------------------------------------------------------------------------------------------


def vault_key(settings: Settings | None = None, *, create: bool = True) -> bytes:
    """The vault's Fernet key: ``DSAR_VAULT_KEY``, or in development the one kept under home
    (made now unless ``create`` is false: then its absence is a ConfigurationError)."""
    settings = settings or get_settings()
    given = settings.vault_key.get_secret_value().strip()
    if given:
        try:
            Fernet(given)
        except ValueError:
            raise ConfigurationError(
                "DSAR_VAULT_KEY is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
        return given.encode()
    if settings.environment == "production":
        raise ConfigurationError("DSAR_VAULT_KEY must be set when DSAR_ENVIRONMENT=production")
    path = settings.home / KEY_FILE
    if not create and not path.exists():
        raise ConfigurationError(f"DSAR_VAULT_KEY is not set and there is no key at {path}")
    return _development_key(path)


def _development_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    log.warning(
        "DSAR_VAULT_KEY is not set: generated a development key for the retention vault in %s; "
        "set DSAR_VAULT_KEY in production",
        path,
    )
    return key


def check_key(settings: Settings | None = None) -> None:
    """Refuse, at start-up, a missing (production) or malformed vault key; in development an
    unset key is made on first use instead."""
    settings = settings or get_settings()
    if settings.vault_key.get_secret_value().strip() or settings.environment == "production":
        vault_key(settings)


# ------------------------------------------------------------------------------------------
# Keeping and reading
# ------------------------------------------------------------------------------------------


def record_key(request_id: str, processor_id: str) -> str:
    """The stored stand-in for a processor's record id: a hash, never the id or number."""
    return hashlib.sha256(f"{request_id}\0{processor_id}".encode()).hexdigest()


def keep(
    session: Session,
    *,
    request_id: str,
    recipient: str,
    category: str,
    exception: RetentionException,
    processor_id: str,
    record_day: date,
    content: Mapping[str, Any],
    key: bytes,
) -> bool:
    """Store one retained record encrypted, unless this request keeps it already.

    Returns whether it was stored now. ``record_day`` is the record's own date (for an order,
    the day it was placed), from which ``retain_until`` is counted.
    """
    hashed = record_key(request_id, processor_id)
    stored = session.exec(
        select(VaultRecord).where(
            VaultRecord.request_id == request_id, VaultRecord.record_key == hashed
        )
    ).first()
    if stored is not None:
        return False
    sealed = {"starts_on": record_day.isoformat(), "record": dict(content)}
    session.add(
        VaultRecord(
            request_id=request_id,
            recipient=recipient,
            category=category,
            ground=exception.ground,
            law=exception.law,
            record_key=hashed,
            retain_until=retain_until(exception, record_day),
            content=Fernet(key).encrypt(json.dumps(sealed, sort_keys=True).encode()).decode(),
        )
    )
    return True


def open_content(record: VaultRecord, key: bytes) -> dict[str, Any]:
    """A record's decrypted content (``starts_on`` and ``record``); InputError with a wrong key."""
    try:
        opened: dict[str, Any] = json.loads(Fernet(key).decrypt(record.content.encode()))
    except InvalidToken:
        raise InputError(
            "DSAR_VAULT_KEY cannot decrypt the retention vault's records: it is not the key "
            "they were stored with"
        ) from None
    return opened


def records_of(session: Session, request_id: str) -> list[VaultRecord]:
    """A request's retained records, by category and end of retention."""
    return list(
        session.exec(
            select(VaultRecord)
            .where(VaultRecord.request_id == request_id)
            .order_by(col(VaultRecord.category), col(VaultRecord.retain_until))
        )
    )


def listing(session: Session) -> list[dict[str, str]]:
    """Every retained record as ``id``, ``request_id``, ``category``, ``ground``,
    ``retain_until`` — never its content."""
    rows = session.exec(
        select(VaultRecord).order_by(col(VaultRecord.retain_until), col(VaultRecord.id))
    )
    return [
        {
            "id": r.id,
            "request_id": r.request_id,
            "category": r.category,
            "ground": f"{r.ground} — {r.law}",
            "retain_until": r.retain_until.isoformat(),
        }
        for r in rows
    ]


# ------------------------------------------------------------------------------------------
# Purging on time
# ------------------------------------------------------------------------------------------


def purge_due(session: Session, *, today: date, actor: str, key: bytes) -> int:
    """Destroy every record whose ``retain_until`` lies before ``today``; returns how many.

    The key is checked first against a stored record: a wrong key (which could never read
    what it keeps) purges nothing. One audit event per request records the count.
    """
    sample = session.exec(select(VaultRecord).limit(1)).first()
    if sample is not None:
        open_content(sample, key)
    due = list(session.exec(select(VaultRecord).where(col(VaultRecord.retain_until) < today)))
    per_request: dict[str, int] = {}
    for record in due:
        per_request[record.request_id] = per_request.get(record.request_id, 0) + 1
        session.delete(record)
    for request_id, count in sorted(per_request.items()):
        append_event(
            session,
            action="vault_purged",
            actor=actor,
            request_id=request_id,
            data={"count": count, "today": today.isoformat()},
        )
    return len(due)
