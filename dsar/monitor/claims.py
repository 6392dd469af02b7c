"""Claiming the staff notices a digest carries, and settling them once it is sent, in SQL.

A notice row per (request, rule) is claimed for one digest's Message-ID with one UPDATE and one
INSERT ... SELECT, however many requests are due, and settled as sent or failed afterwards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, String, and_, exists, insert, literal
from sqlalchemy import select as core_select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlmodel import Session, col, select, update

from dsar.enums import NoticeStatus
from dsar.models import Notice, Request, utcnow
from dsar.monitor.rules import (
    OPEN_STATUSES,
    STAFF,
    Rule,
    staff_rules,
)


def due_condition(rule: Rule, controller: str) -> ColumnElement[bool]:
    """The controller's open requests ``rule`` applies to.

    The controller is compared as an expression (``controller || ''``) so that the planner
    walks the rule's due-date range and checks the controller on the way, instead of reading
    every open request of the controller through its index.
    """
    return and_(
        col(Request.status).in_(OPEN_STATUSES),
        (col(Request.controller) + "") == controller,
        rule.where,
    )


def due_ids(rule: Rule, controller: str) -> Any:
    return select(col(Request.id)).where(due_condition(rule, controller))


class _RandomId(FunctionElement[str]):
    """32 random hex characters drawn by the database, one per row of an ``INSERT … SELECT``."""

    type = String()
    inherit_cache = True


@compiles(_RandomId, "sqlite")
def _random_id_sqlite(element: _RandomId, compiler: SQLCompiler, **kw: Any) -> str:
    return "lower(hex(randomblob(16)))"


@compiles(_RandomId, "postgresql")
def _random_id_postgresql(element: _RandomId, compiler: SQLCompiler, **kw: Any) -> str:
    return "replace(gen_random_uuid()::text, '-', '')"


def claim_notices(session: Session, rule: Rule, *, controller: str, message_id: str) -> int:
    """Tie every due, not yet sent staff notice of ``rule`` to this digest; return how many.

    Rows left ``pending``/``failed`` by an earlier digest are taken over (set-based ``UPDATE``);
    missing rows are created by ``INSERT … SELECT`` with ids the database draws at random, so
    no row passes through Python.
    """
    assert rule.purpose is not None  # noqa: S101 - staff rules carry a purpose
    due = due_ids(rule, controller)
    taken = session.exec(
        update(Notice)
        .where(
            col(Notice.recipient) == STAFF,
            col(Notice.purpose) == rule.purpose,
            col(Notice.status) != NoticeStatus.SENT,
            col(Notice.request_id).in_(due),
        )
        .values(message_id=message_id, status=NoticeStatus.PENDING, error=None, channel="email")
        .execution_options(synchronize_session=False)
    ).rowcount
    missing = core_select(
        _RandomId(),
        col(Request.id),
        literal(STAFF),
        literal(rule.purpose),
        literal("email"),
        literal(NoticeStatus.PENDING.value),
        literal(message_id),
    ).where(
        due_condition(rule, controller),
        ~exists().where(
            col(Notice.request_id) == col(Request.id),
            col(Notice.recipient) == STAFF,
            col(Notice.purpose) == rule.purpose,
        ),
    )
    columns = ["id", "request_id", "recipient", "purpose", "channel", "status", "message_id"]
    # SQLAlchemy keeps an INSERT's row count only when asked (PostgreSQL would report -1).
    made = session.exec(
        insert(Notice).from_select(columns, missing).execution_options(preserve_rowcount=True)
    ).rowcount
    return int(taken) + int(made)


def settle_notices(
    session: Session,
    rules: Sequence[Rule],
    controller: str,
    message_id: str,
    *,
    status: NoticeStatus,
    error: str | None,
) -> None:
    sent_at = utcnow() if status is NoticeStatus.SENT else None
    for rule in staff_rules(rules):
        session.exec(
            update(Notice)
            .where(
                col(Notice.recipient) == STAFF,
                col(Notice.purpose) == rule.purpose,
                col(Notice.message_id) == message_id,
                col(Notice.request_id).in_(due_ids(rule, controller)),
            )
            .values(status=status, sent_at=sent_at, error=error)
            .execution_options(synchronize_session=False)
        )
