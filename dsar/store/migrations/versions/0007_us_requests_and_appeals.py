"""US request kinds and regimes, and the appeals of denied US requests.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04

Request kinds ``opt-out`` and ``limit-sensitive`` and the regimes ``ctdpa``, ``tdpsa`` and
``policy`` join the native enum types on PostgreSQL (SQLite stores them as plain text). The
``appeal`` table holds one appeal per denied request (:class:`~dsar.appeal_records.Appeal`).
PostgreSQL cannot drop an enum value: a downgrade drops the table and leaves the values.
A table already present (a database built by ``create_all`` from newer models and adopted at
the baseline) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "appeal"

#: PostgreSQL enum type -> the member names added (SQLModel stores enum members by name).
NEW_VALUES = {
    "requestkind": ("OPT_OUT", "LIMIT_SENSITIVE"),
    "regime": ("CTDPA", "TDPSA", "POLICY"),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for enum, values in NEW_VALUES.items():
            for value in values:
                op.execute(sa.text(f"ALTER TYPE {enum} ADD VALUE IF NOT EXISTS '{value}'"))
    else:
        # SQLite keeps a non-native enum as VARCHAR sized to its longest name.
        with op.batch_alter_table("request") as batch:
            batch.alter_column(
                "kind",
                existing_type=sa.Enum(
                    "ACCESS", "RECTIFICATION", "ERASURE", "RESTRICTION", "PORTABILITY",
                    "OBJECTION", name="requestkind",
                ),
                type_=sa.Enum(
                    "ACCESS", "RECTIFICATION", "ERASURE", "RESTRICTION", "PORTABILITY",
                    "OBJECTION", "OPT_OUT", "LIMIT_SENSITIVE", name="requestkind",
                ),
                existing_nullable=False,
            )  # fmt: skip
    if sa.inspect(bind).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("regime", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=4000), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("extended_due_date", sa.Date(), nullable=True),
        sa.Column("effective_due_date", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=4000), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id"),
        sa.CheckConstraint("status IN ('open', 'granted', 'denied')", name="ck_appeal_status"),
    )
    op.create_index("ix_appeal_status_due", TABLE, ["status", "effective_due_date"])


def downgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.drop_index("ix_appeal_status_due", table_name=TABLE)
    op.drop_table(TABLE)
