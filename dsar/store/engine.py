"""Database engine and sessions: SQLite by default, PostgreSQL in production.

SQLite is tuned for a single machine with concurrent readers: WAL journal, foreign keys on, a
busy timeout, and ``BEGIN IMMEDIATE`` so that a transaction that will write takes the write lock
up front — two writers then queue instead of one failing half-way (the audit chain's head and a
step's "before" record are written in such transactions).

PostgreSQL (``DSAR_DATABASE_URL=postgresql+psycopg://...``) runs many workers at once, each with
a pooled engine. Its transactions are READ COMMITTED, so a row two workers could both act on is
claimed with ``SELECT ... FOR UPDATE SKIP LOCKED`` (:func:`claim_for_update`): the first worker
locks it until its transaction commits and the second sees nothing instead of waiting, then
re-reads a committed state. SQLite ignores ``FOR UPDATE``; its writers are already serialised.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from dsar import accounts as accounts  # the console's tables join the schema's metadata
from dsar.appeal_records import Appeal as _Appeal  # noqa: F401 - its table joins the metadata
from dsar.errors import NotFoundError
from dsar.models import Step
from dsar.store.connect import get_engine
from dsar.vault import VaultRecord  # noqa: F401 - the vault's table belongs to the schema

T = TypeVar("T")
Row = TypeVar("Row", bound=SQLModel)


def by_id_or_prefix(session: Session, model: type[Row], key: str, *, noun: str) -> Row:
    """The row of ``model`` with this id, or the only one whose id starts with ``key`` (six or
    more characters, as people copy ids); :class:`NotFoundError` naming the ``noun`` else."""
    row = session.get(model, key)
    if row is not None:
        return row
    if len(key) >= 6:
        id_column = getattr(model, "id")  # noqa: B009 - every table here has an ``id``
        matches = session.exec(select(model).where(col(id_column).startswith(key)).limit(2)).all()
        if len(matches) == 1:
            return matches[0]
    raise NotFoundError(f"no {noun} with id {key!r}")


_initialised: set[str] = set()


def init_db(engine: Engine) -> None:
    """Bring the schema to the newest migration, once per process and database.

    SQLite and PostgreSQL share one path (:func:`dsar.store.migrate.ensure_schema`): a database
    created before migrations existed is stamped and upgraded; a brand-new SQLite file is built
    with ``create_all`` and stamped at head, which the migration tests prove is the same schema.
    """
    key = engine.url.render_as_string(hide_password=False)
    if key not in _initialised:
        from dsar.store.migrate import ensure_schema  # Alembic loads only when a database is opened

        ensure_schema(engine)
        _initialised.add(key)


def engine_from_settings() -> Engine:
    """The engine for the configured database, with its tables in place."""
    from dsar.settings import get_settings

    engine = get_engine(get_settings().effective_database_url)
    init_db(engine)
    return engine


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing half-written."""
    with Session(engine or engine_from_settings(), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def claim_for_update(session: Session, statement: SelectOfScalar[T]) -> T | None:
    """The first row of ``statement``, locked for this transaction; ``None`` if none is free.

    ``FOR UPDATE SKIP LOCKED`` passes over rows another transaction has locked, so two workers
    never act on the same row at once. The row is re-read even when the session already holds
    it, so the caller decides on the committed state, not on a stale copy.
    """
    locked = statement.with_for_update(skip_locked=True).execution_options(populate_existing=True)
    return session.exec(locked).first()


def claim_step(session: Session, step_id: str) -> Step | None:
    """Lock a step for the caller's transaction; ``None`` while another worker holds it.

    This is the claim behind "record before the side effect": the worker that gets the step
    marks it ``running`` and commits before calling the processor, and a second worker that
    tried at the same moment gets ``None`` and leaves the step alone. Raises
    :class:`~dsar.errors.NotFoundError` when no such step exists.
    """
    step = claim_for_update(session, select(Step).where(Step.id == step_id))
    if step is None and session.exec(select(Step.id).where(Step.id == step_id)).first() is None:
        raise NotFoundError(f"no step with id {step_id!r}")
    return step
