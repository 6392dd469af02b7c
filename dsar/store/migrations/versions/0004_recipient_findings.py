"""Recipient findings: which recipients received a person's data, and why.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

One row per request and recipient (:class:`~dsar.models.RecipientFinding`): the verdict
(``received``, ``not_received``, ``undetermined``, under a CHECK constraint), the reasons and,
for a verdict staff settled, who did. A table already present (a database built by
``create_all`` from newer models and adopted at the baseline) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "recipientfinding"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "request_id", "recipient", name="uq_recipientfinding_request_recipient"
        ),
        sa.CheckConstraint(
            "verdict IN ('received', 'not_received', 'undetermined')",
            name="ck_recipientfinding_verdict",
        ),
    )
    op.create_index("ix_recipientfinding_request_id", TABLE, ["request_id"])


def downgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.drop_index("ix_recipientfinding_request_id", table_name=TABLE)
    op.drop_table(TABLE)
