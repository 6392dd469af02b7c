"""Retention vault: records kept under a statutory duty after an erasure, encrypted.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

One row per request and retained record (:class:`~dsar.vault.VaultRecord`): category, ground,
law and ``retain_until`` in clear, the content as a Fernet token, the processor's record id only
as a hash (unique per request). A table already present (a database built by ``create_all``
from newer models and adopted at the baseline) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "vaultrecord"


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.create_table(
        TABLE,
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("ground", sa.String(length=200), nullable=False),
        sa.Column("law", sa.String(length=200), nullable=False),
        sa.Column("record_key", sa.String(length=64), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "record_key", name="uq_vaultrecord_request_record"),
    )
    op.create_index("ix_vaultrecord_request_id", TABLE, ["request_id"])
    op.create_index("ix_vaultrecord_retain_until", TABLE, ["retain_until"])


def downgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table(TABLE):
        return
    op.drop_index("ix_vaultrecord_retain_until", table_name=TABLE)
    op.drop_index("ix_vaultrecord_request_id", table_name=TABLE)
    op.drop_table(TABLE)
