"""The engine's stored facts: requests, their planned steps, notices, manual tasks, exports and
the audit trail.

Model families follow one pattern: ``RequestBase`` (fields shared by input and storage) →
``RequestCreate`` (what a channel hands in, identities included) → ``Request(table=True)`` →
``RequestPublic`` (what ``--json`` and the API show: no identities). Identities live only on the
table model, minimised to what a request needs (Art. 5(1)(c)).

Times are stored as UTC and always come back timezone-aware (:class:`UTCDateTime`), whichever
database is underneath.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dsar.columns import StrEnumText, UTCDateTime, _values_check
from dsar.enums import (
    Channel,
    ManualTaskStatus,
    NoticeStatus,
    Regime,
    RequestKind,
    RequestStatus,
    StepStatus,
    Verdict,
)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A random, URL-safe identifier (32 hex characters)."""
    return uuid.uuid4().hex


def _utc_column(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def _json_column(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


# --------------------------------------------------------------------------------------------
# Requests
# --------------------------------------------------------------------------------------------


class RequestBase(SQLModel):
    """Fields every representation of a request shares."""

    controller: str = Field(index=True, max_length=64)
    kind: RequestKind
    channel: Channel = Channel.STAFF
    language: str = Field(default="en", max_length=8)


class RequestCreate(RequestBase):
    """What a channel hands in. ``received_at`` defaults to now; it must carry an offset."""

    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    customer_id: str | None = Field(default=None, max_length=64)
    received_at: datetime | None = None
    verified_by: str | None = Field(default=None, max_length=500)
    residence_country: str | None = Field(default=None, max_length=2)
    residence_subdivision: str | None = Field(default=None, max_length=8)
    idempotency_key: str | None = Field(default=None, max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("email")
    @classmethod
    def _email_shape(cls, value: str) -> str:
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError("not a valid e-mail address") from exc

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError(
                "received_at must include a UTC offset, e.g. 2026-03-05T10:00:00+01:00"
            )
        return value

    @field_validator("residence_country")
    @classmethod
    def _upper_country(cls, value: str | None) -> str | None:
        return value.upper() if value else value


class Request(RequestBase, table=True):
    """One data-subject request and everything needed to answer it in time."""

    __table_args__ = (
        # The deadline monitor (dsar.monitor.scanning): open requests by due date, carrying every
        # column its due-date rules test, so it counts them from the index alone, in its order.
        Index(
            "ix_request_monitor_due",
            "status",
            "effective_due_date",
            "controller",
            "extended",
            "extension_notice_by",
            "extension_notified_at",
            "id",
        ),
        # ... and its other ranges: runs that stopped or never started, receipts owed.
        Index("ix_request_status_updated", "status", "updated_at"),
        Index("ix_request_status_verified", "status", "verified_at"),
        Index(
            "ix_request_acknowledgement",
            "status",
            "acknowledged_at",
            "acknowledge_by",
            "controller",
            "id",
        ),
        Index("ix_request_controller_status", "controller", "status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    status: RequestStatus = Field(default=RequestStatus.RECEIVED, index=True)
    regime: Regime
    idempotency_key: str = Field(unique=True, max_length=200)

    # Identities given by the requester. Never logged, never in RequestPublic.
    email: str = Field(max_length=320)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40)
    customer_id: str | None = Field(default=None, max_length=64)
    residence_country: str | None = Field(default=None, max_length=2)
    residence_subdivision: str | None = Field(default=None, max_length=8)

    received_at: datetime = _utc_column(nullable=False)
    received_on: date  # the receipt date in the controller's time zone (Reg. 1182/71 Art. 3)
    due_date: date
    extended_due_date: date | None = None
    effective_due_date: date = Field(index=True)
    extension_notice_by: date | None = None
    acknowledge_by: date | None = None
    acknowledged_at: datetime | None = _utc_column()
    extended: bool = False
    extension_reason: str | None = Field(default=None, max_length=1000)
    extension_notified_at: datetime | None = _utc_column()
    clock_stops: list[dict[str, str]] = _json_column(list)

    verified_at: datetime | None = _utc_column()
    verified_by: str | None = Field(default=None, max_length=500)
    status_reason: str | None = Field(default=None, max_length=1000)
    details: dict[str, Any] = _json_column(dict)
    flow_run_id: str | None = Field(default=None, max_length=64)

    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    closed_at: datetime | None = _utc_column(index=True)


class RequestPublic(RequestBase):
    """A request as shown to staff tools and APIs: no identities of the subject."""

    id: str
    status: RequestStatus
    regime: Regime
    received_at: datetime
    received_on: date
    due_date: date
    extended_due_date: date | None
    effective_due_date: date
    extension_notice_by: date | None
    acknowledge_by: date | None
    extended: bool
    verified: bool
    status_reason: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, request: Request) -> RequestPublic:
        """Project a stored request onto its public shape."""
        data = request.model_dump(
            exclude={"email", "name", "phone", "customer_id", "details", "verified_by"}
        )
        data["verified"] = request.verified_at is not None
        return cls.model_validate(data)


# --------------------------------------------------------------------------------------------
# Execution: steps, notices, manual tasks, exports
# --------------------------------------------------------------------------------------------


class Step(SQLModel, table=True):
    """One planned action on one recipient, recorded before and after it runs.

    ``(request_id, recipient, action)`` is unique, so re-planning or re-running a request never
    creates a second erasure of the same recipient.
    """

    __table_args__ = (
        UniqueConstraint(
            "request_id", "recipient", "action", name="uq_step_request_recipient_action"
        ),
        Index("ix_step_status", "status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    position: int = 0
    recipient: str = Field(max_length=64)
    connector: str = Field(max_length=32)  # connector name or "manual"
    action: str = Field(
        max_length=32
    )  # export | rectify | erase | restrict | lift_restriction | notify | manual
    status: StepStatus = StepStatus.PLANNED
    categories: list[str] = _json_column(list)
    retention_ground: str | None = Field(default=None, max_length=200)
    retention_until: date | None = None
    attempts: int = 0
    external_ref: str | None = Field(default=None, max_length=200)
    result: dict[str, Any] = _json_column(dict)
    error: str | None = Field(default=None, max_length=2000)
    started_at: datetime | None = _utc_column()
    finished_at: datetime | None = _utc_column()


class RecipientFinding(SQLModel, table=True):
    """Whether one recipient received the person's data, and why (:mod:`dsar.evidence`).

    Established once per request before any notice; ``decided_by`` names the staff member who
    settled an undetermined one.
    """

    __table_args__ = (
        UniqueConstraint("request_id", "recipient", name="uq_recipientfinding_request_recipient"),
        _values_check("verdict", Verdict, "ck_recipientfinding_verdict"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    recipient: str = Field(max_length=64)
    verdict: Verdict = Field(sa_column=Column(StrEnumText(Verdict), nullable=False))
    reasons: list[str] = _json_column(list)
    decided_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Notice(SQLModel, table=True):
    """A message sent on behalf of a request: Art. 19 notices, answers, extension notices.

    Stored as evidence of delivery (message id, time). ``(request_id, recipient, purpose)`` is
    unique so a re-run never notifies twice.
    """

    __table_args__ = (
        UniqueConstraint("request_id", "recipient", "purpose", name="uq_notice_request_recipient"),
        _values_check("status", NoticeStatus, "ck_notice_status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    recipient: str = Field(max_length=64)  # register key, or "subject"
    purpose: str = Field(
        max_length=32
    )  # art19 | answer | extension | verification | acknowledgement | ...
    channel: str = Field(max_length=16)  # email | webhook | file
    status: NoticeStatus = Field(
        default=NoticeStatus.PENDING,
        sa_column=Column(StrEnumText(NoticeStatus), nullable=False),
    )
    message_id: str | None = Field(default=None, max_length=300)
    sent_at: datetime | None = _utc_column()
    error: str | None = Field(default=None, max_length=2000)


class ManualTask(SQLModel, table=True):
    """Work for staff where a recipient has no API; the request waits without a process."""

    __table_args__ = (
        UniqueConstraint("request_id", "recipient", name="uq_manualtask_request_recipient"),
        Index("ix_manualtask_status_due", "status", "due_date"),
        _values_check("status", ManualTaskStatus, "ck_manualtask_status"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    recipient: str = Field(max_length=64)
    instructions: str = Field(max_length=4000)
    due_date: date
    status: ManualTaskStatus = Field(
        default=ManualTaskStatus.OPEN,
        sa_column=Column(StrEnumText(ManualTaskStatus), nullable=False),
    )
    note: str | None = Field(default=None, max_length=4000)  # the evidence staff recorded
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    completed_at: datetime | None = _utc_column()


class Export(SQLModel, table=True):
    """An access or portability package waiting to be downloaded.

    Only a hash of the random download token is stored: a database leak yields no usable link.
    """

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    size: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = _utc_column(nullable=False, index=True)
    downloads: int = 0
    max_downloads: int = 5


class VerificationChallenge(SQLModel, table=True):
    """A single-use proof-of-control challenge sent to a contact point already on file.

    Only hashes of the link token and of the 6-digit code are stored (EDPB 01/2022 §§65-79:
    verify with existing contact details; keep no more than needed).
    """

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", index=True, max_length=32)
    token_hash: str = Field(unique=True, max_length=64)
    code_hash: str = Field(max_length=64)
    channel: str = Field(default="email", max_length=16)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    expires_at: datetime = _utc_column(nullable=False)
    attempts: int = 0
    max_attempts: int = 3
    used_at: datetime | None = _utc_column()
    revoked_at: datetime | None = _utc_column()


# --------------------------------------------------------------------------------------------
# Audit trail
# --------------------------------------------------------------------------------------------


class AuditEvent(SQLModel, table=True):
    """One link of the append-only, hash-chained audit trail (see :mod:`dsar.audit`)."""

    seq: int = Field(primary_key=True)
    at: datetime = _utc_column(nullable=False)
    request_id: str | None = Field(default=None, index=True, max_length=32)
    action: str = Field(max_length=64)
    actor: str = Field(max_length=64)
    data: dict[str, Any] = _json_column(dict)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain's head (one row): appends lock it, and verification detects a cut-off tail."""

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = Field(max_length=64)
