"""Schema migrations: one Alembic history that SQLite and PostgreSQL both follow.

The history lives in :mod:`dsar.store.migrations` and ships inside the package, so an installed
engine can upgrade its own database (``dsar db upgrade``). Configuration is built in code;
there is no ``alembic.ini`` to deploy or to keep in step.

Every migration runs in one transaction on one connection, under a lock, so that N workers
starting at once against the same database take turns instead of racing to create the same
tables: PostgreSQL takes a transaction-level advisory lock, SQLite its write lock
(``BEGIN IMMEDIATE``, see :mod:`dsar.store.engine`). On SQLite, foreign keys are switched off while
a migration runs, because Alembic's batch mode rebuilds a table by copying and dropping it; the
rows are checked with ``PRAGMA foreign_key_check`` before the transaction commits.

:func:`ensure_schema` is what :func:`dsar.store.engine.init_db` calls when a process first touches a
database:

* a versioned database (it has ``alembic_version``) is upgraded to head;
* a database created by ``create_all`` before migrations existed (tables, no
  ``alembic_version``) is stamped at :data:`BASELINE`, the revision that matches that schema,
  and then upgraded;
* a brand-new SQLite database gets ``create_all`` and is stamped at head. That is the same
  schema as running every migration — :func:`check_in_sync` proves it in the test suite — but
  cheaper: measured at about 33 ms against 49 ms per new database with a one-revision history,
  and the gap grows with every revision, which matters to a test suite that creates one
  database per test. A brand-new PostgreSQL database runs the real migrations.

Enum values are compared too: PostgreSQL stores the engine's statuses as native enum types, so
a new status needs a migration (``ALTER TYPE ... ADD VALUE``, written by hand).
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from argparse import Namespace
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.autogenerate.api import AutogenContext
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, create_engine

from dsar.errors import DsarError, InputError
from dsar.store.connect import get_engine

#: Where the history lives: ``env.py``, ``script.py.mako`` and ``versions/``.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: The first revision: the schema that ``create_all`` built before migrations existed.
BASELINE = "0001"

#: Key of the PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number).
MIGRATION_LOCK_KEY = 0x647361725F6D6967  # "dsar_mig"

#: Alembic's ``op`` and ``context`` are process-wide proxies: one migration per process at once.
_in_process = threading.RLock()

log = logging.getLogger("dsar.store.migrate")


# ------------------------------------------------------------------------------------------
# Configuration shared by env.py, autogenerate and the sync check
# ------------------------------------------------------------------------------------------


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration built in code, handing ``connection`` to ``env.py``."""
    config = Config(cmd_opts=Namespace(quiet=True))  # the domain prints nothing; the CLI does
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render decorated column types as their plain SQLAlchemy type.

    SQLModel's ``AutoString`` is a ``String`` and :class:`~dsar.columns.UTCDateTime` a naive UTC
    ``DateTime`` (the conversion happens in Python, not in the database), so a migration needs
    neither sqlmodel nor :mod:`dsar.models` and keeps working however the models change.
    """
    if type_ == "type" and isinstance(obj, sa.types.TypeDecorator):
        return f"sa.{obj.impl_instance!r}"
    return False


def compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Also report changed enum values (Alembic compares only the type); else the default."""
    if isinstance(metadata_type, sa.Enum) and isinstance(inspected_type, sa.Enum):
        return set(metadata_type.enums) != set(inspected_type.enums)
    return None


def context_options() -> dict[str, Any]:
    """Options for every :class:`MigrationContext` the engine configures."""
    return {
        "target_metadata": SQLModel.metadata,
        "render_as_batch": True,  # SQLite alters tables by rebuilding them
        "compare_type": compare_type,
        "render_item": render_item,
    }


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The migration history, read once per process."""
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision this version of the engine knows."""
    revision = script_directory().get_current_head()
    if revision is None:  # pragma: no cover - the package always ships its history
        raise DsarError("the migration history is empty")
    return revision


# ------------------------------------------------------------------------------------------
# Locked migration transactions
# ------------------------------------------------------------------------------------------


def _sqlite_pragma(connection: Connection, pragma: str) -> None:
    """Run a pragma outside any transaction (``foreign_keys`` is a no-op inside one)."""
    connection.connection.driver_connection.execute(pragma)  # type: ignore[union-attr]


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One connection, one transaction, the migration locks held until commit."""
    with _in_process, engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_pragma(connection, "PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
                yield connection
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise DsarError("a migration left rows that break a foreign key")
        finally:
            if sqlite:
                _sqlite_pragma(connection, "PRAGMA foreign_keys=ON")


def _current(connection: Connection) -> str | None:
    """The database's revision, refusing one this version of the engine does not know."""
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is not None and script_directory().get_revision(revision) is None:
        raise DsarError(
            f"the database is at revision {revision!r}, which this version of dsar does not "
            "know; upgrade dsar before touching the database"
        )
    return revision


@contextmanager
def _alembic_errors(revision: str) -> Iterator[None]:
    """Alembic's errors for a bad target revision become :class:`InputError`."""
    try:
        yield
    except CommandError as exc:
        raise InputError(f"revision {revision!r}: {exc}") from exc


def _known_current(connection: Connection) -> str | None:
    try:
        return _current(connection)
    except CommandError as exc:  # an id that is not in the history at all
        raise DsarError(f"the database's revision is unknown to this dsar: {exc}") from exc


def _adopt_unversioned(connection: Connection) -> bool:
    """Stamp a database built by ``create_all`` before migrations at :data:`BASELINE`.

    Return whether the database is empty (neither a version table nor any of the tables).
    """
    tables = set(sa.inspect(connection).get_table_names())
    if "alembic_version" in tables:
        return False
    if not tables & set(SQLModel.metadata.tables):
        return True
    MigrationContext.configure(connection).stamp(script_directory(), BASELINE)
    log.info("schema stamped at the baseline revision (built before migrations)")
    return False


def _run(engine: Engine, action: str, revision: str) -> str | None:
    with _migration_transaction(engine) as connection:
        _adopt_unversioned(connection)
        before = _known_current(connection)
        config = alembic_config(connection)
        with _alembic_errors(revision):
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        after = MigrationContext.configure(connection).get_current_revision()
    log.info("schema %s: %s -> %s", action, before, after)
    return after


# ------------------------------------------------------------------------------------------
# Public commands
# ------------------------------------------------------------------------------------------


def upgrade(url: str, revision: str = "head") -> str | None:
    """Run migrations up to ``revision``; return the revision the database is now at."""
    return _run(get_engine(url), "upgrade", revision)


def downgrade(url: str, revision: str) -> str | None:
    """Undo migrations down to ``revision`` (``base`` drops every table); return the new one."""
    return _run(get_engine(url), "downgrade", revision)


def current(url: str) -> str | None:
    """The revision the database is at; ``None`` when it has never been migrated."""
    with get_engine(url).connect() as connection:
        return _known_current(connection)


def check_in_sync(url: str, *, metadata: sa.MetaData | None = None) -> list[str]:
    """Differences between the models and the database at ``url`` after upgrading it to head.

    An empty list means the migrations build exactly what the models declare; anything else
    is a model change that still needs a migration (``dsar db revision``).
    """
    upgrade(url)
    with get_engine(url).connect() as connection:
        options = context_options()
        if metadata is not None:
            options["target_metadata"] = metadata
        context = MigrationContext.configure(connection, opts=options)
        diffs = compare_metadata(context, options["target_metadata"])
    return [repr(diff) for diff in diffs]


def revision(message: str, *, directory: Path | None = None) -> Path:
    """Write the next migration, autogenerated from the models; return its path.

    Revision ids are sequential (``0002`` after ``0001``) so the history reads in order and two
    branches that both add a migration collide in review instead of leaving two heads. The
    models are compared with a scratch SQLite database upgraded to head, so no server is needed;
    the generated file still wants reading (enum changes on PostgreSQL are written by hand).
    ``directory`` writes the file elsewhere (tests).
    """
    next_id = f"{int(head()) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        engine = create_engine(f"sqlite:///{Path(scratch, 'scratch.db').as_posix()}")
        try:
            _run(engine, "upgrade", "head")
            with _in_process, engine.connect() as connection:
                config = alembic_config(connection)
                if directory is not None:
                    versions = [MIGRATIONS_DIR / "versions", directory]
                    config.set_main_option("version_locations", os.pathsep.join(map(str, versions)))
                script = command.revision(
                    config,
                    message=message,
                    autogenerate=True,
                    rev_id=next_id,
                    version_path=str(directory) if directory else None,
                )
        finally:
            engine.dispose()
    if not isinstance(script, Script):  # pragma: no cover - a linear history has one head
        raise DsarError("autogenerate did not write exactly one revision")
    return Path(script.path)


def ensure_schema(engine: Engine) -> None:
    """Bring the database to head: adopt, create or upgrade it as its state requires."""
    with _migration_transaction(engine) as connection:
        empty = _adopt_unversioned(connection)
        if empty and connection.dialect.name == "sqlite":
            SQLModel.metadata.create_all(connection)
            MigrationContext.configure(connection).stamp(script_directory(), "heads")
        elif _known_current(connection) != head():
            command.upgrade(alembic_config(connection), "head")
