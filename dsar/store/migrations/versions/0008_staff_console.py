"""The staff console: staff accounts, evidence files, the requester look-up.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-04

``staffmember`` (e-mail, Argon2 hash, role, granted controllers, optional TOTP secret),
``staffevidence`` (an encrypted evidence file per manual task) and ``requestlookup`` (the
keyed hash of a request's requester e-mail). Tables already present are left as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "staffmember" not in present:
        op.create_table(
            "staffmember",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("email", sa.String(length=320), nullable=False),
            sa.Column("password_hash", sa.String(length=200), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("controllers", sa.JSON(), nullable=False),
            sa.Column("totp_secret", sa.String(length=64), nullable=True),
            sa.Column("disabled_at", sa.DateTime(), nullable=True),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("email"),
        )
    if "staffevidence" not in present:
        op.create_table(
            "staffevidence",
            sa.Column("id", sa.String(length=32), nullable=False),
            sa.Column("request_id", sa.String(length=32), nullable=False),
            sa.Column("task_id", sa.String(length=32), nullable=False),
            sa.Column("filename", sa.String(length=200), nullable=False),
            sa.Column("media_type", sa.String(length=100), nullable=False),
            sa.Column("size", sa.Integer(), nullable=False),
            sa.Column("sha256", sa.String(length=64), nullable=False),
            sa.Column("path", sa.String(length=1000), nullable=False),
            sa.Column("uploaded_by", sa.String(length=32), nullable=False),
            sa.Column("created_at", sa.DateTime(), nullable=False),
            sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index("ix_staffevidence_request_id", "staffevidence", ["request_id"])
        op.create_index("ix_staffevidence_task_id", "staffevidence", ["task_id"])
    if "requestlookup" not in present:
        op.create_table(
            "requestlookup",
            sa.Column("request_id", sa.String(length=32), nullable=False),
            sa.Column("email_hash", sa.String(length=64), nullable=False),
            sa.ForeignKeyConstraint(["request_id"], ["request.id"]),
            sa.PrimaryKeyConstraint("request_id"),
        )
        op.create_index("ix_requestlookup_email_hash", "requestlookup", ["email_hash"])


def downgrade() -> None:
    present = set(sa.inspect(op.get_bind()).get_table_names())
    if "requestlookup" in present:
        op.drop_index("ix_requestlookup_email_hash", table_name="requestlookup")
        op.drop_table("requestlookup")
    if "staffevidence" in present:
        op.drop_index("ix_staffevidence_task_id", table_name="staffevidence")
        op.drop_index("ix_staffevidence_request_id", table_name="staffevidence")
        op.drop_table("staffevidence")
    if "staffmember" in present:
        op.drop_table("staffmember")
