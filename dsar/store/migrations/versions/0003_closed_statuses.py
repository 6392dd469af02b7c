"""Notice and manual-task statuses as closed vocabularies, guarded by CHECK constraints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

``notice.status`` takes ``pending``, ``sent`` or ``failed`` and ``manualtask.status`` ``open`` or
``done`` (:class:`~dsar.enums.NoticeStatus`, :class:`~dsar.enums.ManualTaskStatus`); the columns
stay text, so the values read the same in SQL. A constraint already present (a database built by
``create_all`` from newer models and adopted at the baseline) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: table -> (constraint name, allowed values)
CHECKS = {
    "notice": ("ck_notice_status", ("pending", "sent", "failed")),
    "manualtask": ("ck_manualtask_status", ("open", "done")),
}


def _present(table: str, name: str) -> bool:
    checks = sa.inspect(op.get_bind()).get_check_constraints(table)
    return any(check.get("name") == name for check in checks)


def upgrade() -> None:
    for table, (name, values) in CHECKS.items():
        if _present(table, name):
            continue
        allowed = ", ".join(f"'{value}'" for value in values)
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(name, f"status IN ({allowed})")


def downgrade() -> None:
    for table, (name, _values) in CHECKS.items():
        if not _present(table, name):
            continue
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
