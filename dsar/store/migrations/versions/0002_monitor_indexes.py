"""Indexes for the deadline monitor: each of its rules reads an index range of its own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``ix_request_monitor_due`` replaces ``ix_request_status_due`` (its first two columns): it also
carries the columns the due-date rules test, so the monitor counts those requests from the
index alone. The three others bound the re-runs (stalled, unstarted, verified but not started)
and the receipts owed, which before were tests on every open request.

Each statement tolerates what it finds (``IF [NOT] EXISTS``): a database that ``create_all``
built without a version table is adopted at the baseline and upgraded from there, and if the
models that built it were newer than the baseline, it already has these indexes.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: name -> columns of the indexes this revision adds.
INDEXES = {
    "ix_request_monitor_due": [
        "status",
        "effective_due_date",
        "controller",
        "extended",
        "extension_notice_by",
        "extension_notified_at",
        "id",
    ],
    "ix_request_status_updated": ["status", "updated_at"],
    "ix_request_status_verified": ["status", "verified_at"],
    "ix_request_acknowledgement": [
        "status",
        "acknowledged_at",
        "acknowledge_by",
        "controller",
        "id",
    ],
}


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(name, "request", columns, if_not_exists=True)
    op.drop_index("ix_request_status_due", table_name="request", if_exists=True)


def downgrade() -> None:
    op.create_index(
        "ix_request_status_due", "request", ["status", "effective_due_date"], if_not_exists=True
    )
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="request", if_exists=True)
