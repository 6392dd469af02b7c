"""Staff accounts, their evidence files and the requester look-up: the console's stored facts.

A staff member signs in with an e-mail address and a password (an Argon2 hash is all that is
stored) and sees only the controllers granted. Evidence files staff attach to a manual task are
kept encrypted (Fernet, :func:`dsar.keys.evidence_key`) under ``DSAR_HOME/evidence``. A request
is found by its requester's e-mail through a keyed hash (:class:`RequestLookup`), never by
reading every request's address.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from dsar.audit import append_event
from dsar.columns import UTCDateTime
from dsar.errors import InputError, NotFoundError
from dsar.keys import evidence_key, lookup_key
from dsar.models import Request, new_id, utcnow
from dsar.settings import get_settings

ROLES = ("agent", "admin")
DEMO_EMAIL = "demo@staff.invalid"
_HASHER = PasswordHasher()
#: Verified against when no such member exists, so a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("no such staff member")


class StaffMember(SQLModel, table=True):
    """One person of a shop's support staff."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(unique=True, max_length=320)
    password_hash: str = Field(max_length=200)
    role: str = Field(default="agent", max_length=16)
    controllers: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    totp_secret: str | None = Field(default=None, max_length=64)
    disabled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class StaffEvidence(SQLModel, table=True):
    """An evidence file a staff member attached to a manual task, encrypted at rest."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    task_id: str = Field(max_length=32, index=True)
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64)
    path: str = Field(max_length=1000)
    uploaded_by: str = Field(max_length=32)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class RequestLookup(SQLModel, table=True):
    """A request's requester e-mail as a keyed hash, for search without reading addresses."""

    request_id: str = Field(foreign_key="request.id", primary_key=True, max_length=32)
    email_hash: str = Field(index=True, max_length=64)


# --------------------------------------------------------------------------------------------
# Accounts
# --------------------------------------------------------------------------------------------


def _normal(email: str) -> str:
    return email.strip().lower()


def add_member(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    controllers: list[str],
    known: set[str],
    actor: str,
) -> StaffMember:
    """Store a new staff member; the password is kept as an Argon2 hash only."""
    address = _normal(email)
    if "@" not in address or len(address) > 320:
        raise InputError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise InputError("the password needs at least 10 characters")
    if not controllers:
        raise InputError("grant at least one controller (--controller KEY)")
    unknown = sorted(set(controllers) - known)
    if unknown:
        raise InputError(
            f"unknown controller(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    if session.exec(select(StaffMember).where(StaffMember.email == address)).first():
        raise InputError(f"a staff member with {email!r} exists already")
    member = StaffMember(
        email=address,
        password_hash=_HASHER.hash(password),
        role=role,
        controllers=sorted(set(controllers)),
    )
    session.add(member)
    session.flush()
    append_event(
        session,
        action="staff_added",
        actor=actor,
        data={"member": member.id, "role": role, "controllers": member.controllers},
    )
    return member


def list_members(session: Session) -> list[StaffMember]:
    """Every staff member, by e-mail."""
    return list(session.exec(select(StaffMember).order_by(col(StaffMember.email))))


def find_member(session: Session, email: str) -> StaffMember:
    """The member with this e-mail, or :class:`NotFoundError`."""
    member = session.exec(select(StaffMember).where(StaffMember.email == _normal(email))).first()
    if member is None:
        raise NotFoundError(f"no staff member {email!r}")
    return member


def disable_member(session: Session, *, email: str, actor: str) -> StaffMember:
    """Disable a member: their sessions end and they cannot sign in again."""
    member = find_member(session, email)
    if member.disabled_at is None:
        member.disabled_at = utcnow()
        session.add(member)
        append_event(session, action="staff_disabled", actor=actor, data={"member": member.id})
    return member


def authenticate(session: Session, email: str, password: str) -> StaffMember | None:
    """The active member whose password this is, else ``None`` (same cost either way)."""
    member = session.exec(select(StaffMember).where(StaffMember.email == _normal(email))).first()
    try:
        _HASHER.verify(member.password_hash if member else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if member is None or member.disabled_at is not None:
        return None
    if _HASHER.check_needs_rehash(member.password_hash):
        member.password_hash = _HASHER.hash(password)
        session.add(member)
    return member


def demo_login(session: Session, *, controllers: list[str]) -> tuple[str, str]:
    """The development demo login: ``demo@staff.invalid`` for ``controllers`` with a fresh,
    random password (set anew each time; never in production). Returns e-mail and password."""
    if get_settings().environment == "production":
        raise InputError("no demo login in production; add staff with dsar staff add")
    password = secrets.token_urlsafe(12)
    member = session.exec(select(StaffMember).where(StaffMember.email == DEMO_EMAIL)).first()
    member = member or StaffMember(email=DEMO_EMAIL, password_hash="")
    member.password_hash = _HASHER.hash(password)
    member.role, member.controllers, member.disabled_at = "admin", sorted(controllers), None
    session.add(member)
    session.flush()
    append_event(session, action="staff_demo_login", actor="staff:cli", data={"member": member.id})
    return DEMO_EMAIL, password


def enable_totp(session: Session, *, email: str, actor: str) -> tuple[StaffMember, str]:
    """Give an admin a new TOTP secret (RFC 6238); returns the member and the secret."""
    import pyotp

    member = find_member(session, email)
    if member.role != "admin":
        raise InputError("a second factor is offered to admins; this member is an agent")
    member.totp_secret = pyotp.random_base32()
    session.add(member)
    append_event(session, action="staff_totp_enabled", actor=actor, data={"member": member.id})
    return member, member.totp_secret


def active_member(session: Session, member_id: str) -> StaffMember | None:
    """The member with this id while not disabled."""
    member = session.get(StaffMember, member_id)
    return member if member is not None and member.disabled_at is None else None


# --------------------------------------------------------------------------------------------
# Look-up by e-mail
# --------------------------------------------------------------------------------------------


def email_hash(email: str) -> str:
    """The keyed hash a requester's e-mail is found by."""
    return hmac.new(lookup_key(), _normal(email).encode("utf-8"), hashlib.sha256).hexdigest()


def index_requests(session: Session) -> int:
    """Add the look-up hash of every request that has none yet; returns how many were added."""
    missing = session.exec(
        select(Request.id, Request.email).where(
            col(Request.id).not_in(select(RequestLookup.request_id))
        )
    ).all()
    for request_id, email in missing:
        session.add(RequestLookup(request_id=request_id, email_hash=email_hash(email)))
    session.flush()
    return len(missing)


def requests_by_email(session: Session, email: str) -> list[str]:
    """The ids of the requests made under this e-mail address."""
    index_requests(session)
    return list(
        session.exec(
            select(RequestLookup.request_id).where(RequestLookup.email_hash == email_hash(email))
        )
    )


# --------------------------------------------------------------------------------------------
# Evidence files
# --------------------------------------------------------------------------------------------


def evidence_dir() -> Path:
    return get_settings().home / "evidence"


def store_evidence(
    *,
    request_id: str,
    task_id: str,
    filename: str,
    media_type: str,
    content: bytes,
    member_id: str,
) -> StaffEvidence:
    """Encrypt ``content`` into the evidence folder; the caller adds the returned row."""
    folder = evidence_dir()
    folder.mkdir(parents=True, exist_ok=True)
    row = StaffEvidence(
        request_id=request_id,
        task_id=task_id,
        filename=Path(filename).name[:200] or "evidence",
        media_type=media_type[:100] or "application/octet-stream",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        path="",
        uploaded_by=member_id,
    )
    path = folder / f"{row.id}.bin"
    temporary = path.with_suffix(".tmp")
    temporary.write_bytes(Fernet(evidence_key()).encrypt(content))
    temporary.replace(path)
    row.path = str(path)
    return row


def read_evidence(row: StaffEvidence) -> bytes:
    """The decrypted content of an evidence file."""
    return Fernet(evidence_key()).decrypt(Path(row.path).read_bytes())


def evidence_of(session: Session, request_id: str) -> list[dict[str, Any]]:
    """The evidence files of a request as plain rows."""
    rows = session.exec(
        select(StaffEvidence)
        .where(StaffEvidence.request_id == request_id)
        .order_by(col(StaffEvidence.created_at))
    )
    return [
        {
            "id": r.id,
            "task_id": r.task_id,
            "filename": r.filename,
            "size": r.size,
            "sha256": r.sha256,
        }
        for r in rows
    ]
