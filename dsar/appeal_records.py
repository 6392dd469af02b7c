"""The stored appeals of denied US requests (:mod:`dsar.appeals` decides them).

A table of its own, one row per denied request that the consumer appealed: the appeal has its
own receipt day and deadline under the state's law, and its own decision with reasons.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from dsar.columns import StrEnumText, UTCDateTime, _values_check
from dsar.models import new_id, utcnow


class AppealStatus(StrEnum):
    """Where an appeal stands: open until staff decide it, then granted or denied."""

    OPEN = "open"
    GRANTED = "granted"
    DENIED = "denied"


def _utc(*, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Appeal(SQLModel, table=True):
    """A consumer's appeal of a denied request (e.g. Va. Code § 59.1-577(C)).

    ``request_id`` is unique: a denial is appealed once, and a repeated appeal finds this one.
    """

    __table_args__ = (
        _values_check("status", AppealStatus, "ck_appeal_status"),
        Index("ix_appeal_status_due", "status", "effective_due_date"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    request_id: str = Field(foreign_key="request.id", unique=True, max_length=32)
    status: AppealStatus = Field(
        default=AppealStatus.OPEN,
        sa_column=Column(StrEnumText(AppealStatus), nullable=False),
    )
    regime: str = Field(max_length=16)
    reason: str = Field(max_length=4000)
    received_at: datetime = _utc(nullable=False)
    received_on: date
    due_date: date
    extended_due_date: date | None = None
    effective_due_date: date
    decision: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = _utc()
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
