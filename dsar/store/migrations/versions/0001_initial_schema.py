"""Initial schema: requests, steps, notices, manual tasks, exports, challenges, audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-05-20

The baseline: the schema ``create_all`` built before migrations existed, so a database created
then is stamped here and upgraded from this point.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Native enum types on PostgreSQL (plain strings on SQLite); dropping a table keeps its types.
ENUMS = ("requestkind", "channel", "requeststatus", "regime", "stepstatus")


def upgrade() -> None:
    op.create_table(
        "auditevent",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ix_auditevent_request_id", "auditevent", ["request_id"])

    op.create_table(
        "audithead",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "request",
        sa.Column("controller", sa.String(length=64), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "ACCESS",
                "RECTIFICATION",
                "ERASURE",
                "RESTRICTION",
                "PORTABILITY",
                "OBJECTION",
                name="requestkind",
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "STAFF", "CONTACT_FORM", "SHOPIFY_WEBHOOK", "WEB_PAGE", "SCHEDULE", name="channel"
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "RECEIVED",
                "VERIFYING",
                "IN_PROGRESS",
                "AWAITING_MANUAL",
                "COMPLETED",
                "REJECTED",
                "WITHDRAWN",
                "FAILED",
                name="requeststatus",
            ),
            nullable=False,
        ),
        sa.Column(
            "regime",
            sa.Enum("GDPR", "UK_GDPR", "CCPA", "VCDPA", "CPA", "LGPD", name="regime"),
            nullable=False,
        ),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("residence_country", sa.String(length=2), nullable=True),
        sa.Column("residence_subdivision", sa.String(length=8), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("extended_due_date", sa.Date(), nullable=True),
        sa.Column("effective_due_date", sa.Date(), nullable=False),
        sa.Column("extension_notice_by", sa.Date(), nullable=True),
        sa.Column("acknowledge_by", sa.Date(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.String(length=1000), nullable=True),
        sa.Column("extension_notified_at", sa.DateTime(), nullable=True),
        sa.Column("clock_stops", sa.JSON(), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=True),
        sa.Column("verified_by", sa.String(length=500), nullable=True),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index("ix_request_closed_at", "request", ["closed_at"])
    op.create_index("ix_request_controller", "request", ["controller"])
    op.create_index("ix_request_controller_status", "request", ["controller", "status"])
    op.create_index("ix_request_effective_due_date", "request", ["effective_due_date"])
    op.create_index("ix_request_status", "request", ["status"])
    op.create_index("ix_request_status_due", "request", ["status", "effective_due_date"])

    op.create_table(
        "export",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("downloads", sa.Integer(), nullable=False),
        sa.Column("max_downloads", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_export_expires_at", "export", ["expires_at"])
    op.create_index("ix_export_request_id", "export", ["request_id"])

    op.create_table(
        "manualtask",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("instructions", sa.String(length=4000), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=4000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "recipient", name="uq_manualtask_request_recipient"),
    )
    op.create_index("ix_manualtask_request_id", "manualtask", ["request_id"])
    op.create_index("ix_manualtask_status_due", "manualtask", ["status", "due_date"])

    op.create_table(
        "notice",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "request_id", "recipient", "purpose", name="uq_notice_request_recipient"
        ),
    )
    op.create_index("ix_notice_request_id", "notice", ["request_id"])

    op.create_table(
        "step",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "PLANNED", "RUNNING", "PENDING", "DONE", "FAILED", "SKIPPED", name="stepstatus"
            ),
            nullable=False,
        ),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("retention_ground", sa.String(length=200), nullable=True),
        sa.Column("retention_until", sa.Date(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=200), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "request_id", "recipient", "action", name="uq_step_request_recipient_action"
        ),
    )
    op.create_index("ix_step_request_id", "step", ["request_id"])
    op.create_index("ix_step_status", "step", ["status"])

    op.create_table(
        "verificationchallenge",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_verificationchallenge_request_id", "verificationchallenge", ["request_id"])


def downgrade() -> None:
    # Children first; dropping a table drops its indexes and constraints with it.
    for table in (
        "verificationchallenge",
        "step",
        "notice",
        "manualtask",
        "export",
        "request",
        "audithead",
        "auditevent",
    ):
        op.drop_table(table)
    for name in ENUMS:
        sa.Enum(name=name).drop(op.get_bind(), checkfirst=True)
