"""Schema migrations on SQLite and PostgreSQL, the ``dsar db`` commands, and step claims."""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

from dsar.cli import db_app
from dsar.errors import DsarError, InputError, NotFoundError
from dsar.models import Step
from dsar.settings import get_settings
from dsar.store import claim_step, get_engine, init_db, migrate
from tests.factories import make_request

MODEL_TABLES = set(SQLModel.metadata.tables)
runner = CliRunner()


def sqlite_url(tmp_path: Path, name: str = "schema.db") -> str:
    return f"sqlite:///{(tmp_path / name).as_posix()}"


def tables_of(url: str) -> set[str]:
    return set(sa.inspect(get_engine(url)).get_table_names())


def with_extra_column() -> sa.MetaData:
    """The models' metadata plus one column no migration adds."""
    metadata = sa.MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(metadata)
    metadata.tables["step"].append_column(sa.Column("lease_until", sa.DateTime()))
    return metadata


def make_step(session: Session) -> Step:
    request = make_request(session)
    step = Step(request_id=request.id, recipient="shopify", connector="shopify", action="erase")
    session.add(step)
    session.commit()
    return step


def db(*args: str, input_: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(db_app, list(args), input=input_)
    return result.exit_code, result.stdout, result.stderr


class TestSqliteMigrations:
    def test_upgrade_creates_every_model_table(self, tmp_path: Path) -> None:
        """Upgrading an empty database to head builds every table the models declare."""
        url = sqlite_url(tmp_path)
        assert migrate.upgrade(url) == migrate.head()
        assert tables_of(url) == MODEL_TABLES | {"alembic_version"}

    def test_downgrade_to_base_and_back_round_trips(self, tmp_path: Path) -> None:
        """Downgrading to base drops every table, and upgrading again rebuilds them."""
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        assert migrate.downgrade(url, "base") is None
        assert tables_of(url) == {"alembic_version"}
        assert migrate.current(url) is None
        migrate.upgrade(url)
        assert tables_of(url) == MODEL_TABLES | {"alembic_version"}

    def test_migrations_match_the_models(self, tmp_path: Path) -> None:
        """The migrations build exactly the models' schema: a model change needs a migration."""
        assert migrate.check_in_sync(sqlite_url(tmp_path)) == []

    def test_sync_check_reports_a_column_no_migration_adds(self, tmp_path: Path) -> None:
        """A column declared on a model but added by no migration is reported."""
        diffs = migrate.check_in_sync(sqlite_url(tmp_path), metadata=with_extra_column())
        assert len(diffs) == 1
        assert "add_column" in diffs[0]
        assert "lease_until" in diffs[0]

    def test_migrations_import_neither_sqlmodel_nor_the_models(self) -> None:
        """A migration is frozen in time: it uses plain SQLAlchemy types, never the models."""
        versions = sorted((migrate.MIGRATIONS_DIR / "versions").glob("[0-9]*.py"))
        assert versions
        for path in versions:
            text = path.read_text()
            assert not re.search(r"^\s*(from|import) (sqlmodel|dsar)\b", text, re.M), path.name

    def test_new_migrations_are_written_with_plain_types(self, tmp_path: Path) -> None:
        """Autogenerate writes AutoString and UTCDateTime as sa.String and sa.DateTime."""
        with get_engine(sqlite_url(tmp_path)).connect() as connection:
            context = MigrationContext.configure(connection, opts=migrate.context_options())
            ops = produce_migrations(context, SQLModel.metadata).upgrade_ops
            assert ops is not None
            code = render_python_code(ops, render_item=migrate.render_item)
        assert "sa.Column('id', sa.String(length=32)" in code
        assert "sa.Column('received_at', sa.DateTime()" in code
        assert "sqlmodel" not in code
        assert "dsar" not in code

    def test_unknown_target_revision_is_bad_input(self, tmp_path: Path) -> None:
        """Asking for a revision that is not in the history is the caller's error."""
        with pytest.raises(InputError, match="nosuchrev"):
            migrate.upgrade(sqlite_url(tmp_path), "nosuchrev")

    def test_database_ahead_of_the_code_is_refused(self, tmp_path: Path) -> None:
        """A database migrated by a newer dsar is not touched by an older one."""
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        with get_engine(url).begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
        with pytest.raises(DsarError, match="9999") as caught:
            migrate.upgrade(url)
        assert not isinstance(caught.value, InputError)

    def test_foreign_keys_are_enforced_again_after_a_migration(self, tmp_path: Path) -> None:
        """SQLite migrates with foreign keys off (table rebuilds) and turns them back on."""
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        with get_engine(url).connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1

    def test_revision_writes_the_next_migration_after_head(self, tmp_path: Path) -> None:
        """A new migration gets the next sequential id and follows the current head."""
        path = migrate.revision("add nothing", directory=tmp_path)
        assert path.parent == tmp_path
        assert path.name.startswith(f"{int(migrate.head()) + 1:04d}_add_nothing")
        assert f"down_revision: str | Sequence[str] | None = '{migrate.head()}'" in (
            path.read_text()
        )

    def test_threads_migrating_different_databases_do_not_mix(self, tmp_path: Path) -> None:
        """Alembic's proxies are process-wide, so one process runs one migration at a time."""
        urls = [sqlite_url(tmp_path, f"db{i}.db") for i in range(6)]
        with ThreadPoolExecutor(max_workers=6) as pool:
            revisions = list(pool.map(migrate.upgrade, urls))
        assert revisions == [migrate.head()] * 6
        for url in urls:
            assert tables_of(url) == MODEL_TABLES | {"alembic_version"}


class TestInitDb:
    def test_a_new_sqlite_database_is_stamped_at_head(self, tmp_path: Path) -> None:
        """A brand-new SQLite database gets every table and is recorded at the newest revision."""
        url = sqlite_url(tmp_path)
        init_db(get_engine(url))
        assert tables_of(url) == MODEL_TABLES | {"alembic_version"}
        assert migrate.current(url) == migrate.head()

    def test_a_database_built_before_migrations_is_adopted(self, tmp_path: Path) -> None:
        """A create_all database without a version table is stamped, upgraded and keeps rows."""
        url = sqlite_url(tmp_path)
        SQLModel.metadata.create_all(get_engine(url))
        with Session(get_engine(url)) as session:
            request_id = make_request(session).id
            session.commit()
        init_db(get_engine(url))
        assert migrate.current(url) == migrate.head()
        with get_engine(url).connect() as connection:
            assert connection.exec_driver_sql("SELECT id FROM request").scalar() == request_id

    def test_upgrading_a_database_built_before_migrations_adopts_it(self, tmp_path: Path) -> None:
        """``dsar db upgrade`` on a create_all database starts from the baseline, not from zero."""
        url = sqlite_url(tmp_path)
        SQLModel.metadata.create_all(get_engine(url))
        assert migrate.upgrade(url) == migrate.head()
        assert migrate.check_in_sync(url) == []

    def test_a_versioned_database_is_upgraded(self, tmp_path: Path) -> None:
        """A database that has a version table runs the migrations it lacks."""
        url = sqlite_url(tmp_path)
        migrate.upgrade(url)
        migrate.downgrade(url, "base")
        init_db(get_engine(url))
        assert migrate.current(url) == migrate.head()
        assert tables_of(url) == MODEL_TABLES | {"alembic_version"}


class TestClaimStep:
    def test_claim_returns_the_step_on_sqlite(self, engine: Engine) -> None:
        """On SQLite the claim is the step itself: writers are already serialised."""
        with Session(engine) as session:
            step_id = make_step(session).id
        with Session(engine) as session:
            claimed = claim_step(session, step_id)
            assert claimed is not None
            assert claimed.id == step_id

    def test_claiming_an_unknown_step_is_not_found(self, engine: Engine) -> None:
        """An id that names no step is an error, not "someone else has it"."""
        with Session(engine) as session, pytest.raises(NotFoundError):
            claim_step(session, "0" * 32)


class TestDbCommands:
    def test_upgrade_current_and_downgrade(self) -> None:
        """``dsar db`` upgrades, reports and downgrades the configured database."""
        code, out, _ = db("upgrade")
        assert code == 0
        assert f"revision {migrate.head()} (head)" in out
        code, out, _ = db("current", "--json")
        assert code == 0
        assert json.loads(out) == {
            "current": migrate.head(),
            "head": migrate.head(),
            "up_to_date": True,
        }
        code, out, _ = db("downgrade", "base", "--yes")
        assert code == 0
        assert "no revision (head is" in out
        code, out, _ = db("current", "--json")
        assert json.loads(out)["current"] is None

    def test_downgrade_asks_before_dropping(self) -> None:
        """Without --yes a downgrade asks first, and a "no" leaves the database alone."""
        db("upgrade")
        code, _, _ = db("downgrade", "base", input_="n\n")
        assert code == 1
        assert migrate.current(get_settings().effective_database_url) == migrate.head()

    def test_unknown_revision_exits_2(self) -> None:
        """An unknown revision is bad input: one line on stderr, exit 2, no traceback."""
        code, _, err = db("upgrade", "--revision", "nosuchrev")
        assert code == 2
        assert "nosuchrev" in err
        assert "Traceback" not in err

    def test_unreachable_database_exits_1_without_the_password(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A database that cannot be reached is a failure (exit 1); the password never shows."""
        monkeypatch.setenv("DSAR_DATABASE_URL", "postgresql+psycopg://dsar:s3cret@127.0.0.1:1/x")
        get_settings.cache_clear()
        code, out, err = db("current")
        assert code == 1
        assert "database error" in err
        assert "s3cret" not in out + err


class TestPostgres:
    def test_upgrade_downgrade_round_trip(self, postgres_url: str) -> None:
        """On PostgreSQL too, base drops every table and enum type, and upgrading rebuilds them."""
        migrate.upgrade(postgres_url)
        assert tables_of(postgres_url) == MODEL_TABLES | {"alembic_version"}
        migrate.downgrade(postgres_url, "base")
        assert tables_of(postgres_url) == {"alembic_version"}
        with get_engine(postgres_url).connect() as connection:
            enums = connection.exec_driver_sql("SELECT typname FROM pg_type WHERE typtype = 'e'")
            assert enums.all() == []
        assert migrate.upgrade(postgres_url) == migrate.head()

    def test_migrations_match_the_models(self, postgres_url: str) -> None:
        """The migrations build exactly the models' schema on PostgreSQL."""
        assert migrate.check_in_sync(postgres_url) == []

    def test_sync_check_reports_a_new_enum_value(self, postgres_url: str) -> None:
        """A status added to a model needs a migration: PostgreSQL enums are fixed types."""
        metadata = sa.MetaData()
        for table in SQLModel.metadata.tables.values():
            table.to_metadata(metadata)
        status = metadata.tables["step"].c.status
        status.type = sa.Enum(*status.type.enums, "PAUSED", name="stepstatus")  # type: ignore[attr-defined]
        diffs = migrate.check_in_sync(postgres_url, metadata=metadata)
        assert len(diffs) == 1
        assert "modify_type" in diffs[0]
        assert "PAUSED" in diffs[0]

    def test_workers_starting_together_migrate_once(self, postgres_url: str) -> None:
        """Several workers initialising one new database at once take turns, none fails."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            revisions = list(pool.map(lambda _: migrate.upgrade(postgres_url), range(4)))
        assert revisions == [migrate.head()] * 4

    def test_a_migration_waits_for_another_process_migrating(self, postgres_url: str) -> None:
        """While another process holds the migration lock, an upgrade waits and creates nothing."""
        holder = sa.create_engine(postgres_url)
        try:
            with holder.connect() as other, ThreadPoolExecutor(max_workers=1) as pool:
                other.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": migrate.MIGRATION_LOCK_KEY},
                )
                upgrading = pool.submit(migrate.upgrade, postgres_url)
                waiting = sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                )
                for _ in range(400):  # until the upgrade's backend queues on the lock
                    if other.execute(waiting).scalar():
                        break
                    time.sleep(0.025)
                else:
                    pytest.fail("the upgrade never waited for the migration lock")
                assert not upgrading.done()
                assert tables_of(postgres_url) == set()
                other.rollback()  # the other process commits: its lock goes
                assert upgrading.result(timeout=30) == migrate.head()
        finally:
            holder.dispose()

    def test_db_commands(self, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """``dsar db`` works on a PostgreSQL URL from DSAR_DATABASE_URL."""
        monkeypatch.setenv("DSAR_DATABASE_URL", postgres_url)
        get_settings.cache_clear()
        assert db("upgrade")[0] == 0
        assert json.loads(db("current", "--json")[1])["up_to_date"] is True
        assert db("downgrade", "base", "--yes")[0] == 0
        assert json.loads(db("current", "--json")[1])["current"] is None

    def test_only_one_worker_claims_a_step(self, postgres_url: str) -> None:
        """Two workers claiming one step at once: one gets it, the other gets None."""
        engine = get_engine(postgres_url)
        init_db(engine)
        with Session(engine) as session:
            step_id = make_step(session).id
        with Session(engine) as first, Session(engine) as second:
            assert claim_step(first, step_id) is not None
            assert claim_step(second, step_id) is None
            first.commit()
            second.rollback()
            assert claim_step(second, step_id) is not None

    def test_times_come_back_aware_in_utc(self, postgres_url: str) -> None:
        """Stored times round-trip as aware UTC on PostgreSQL as on SQLite."""
        engine = get_engine(postgres_url)
        init_db(engine)
        with Session(engine) as session:
            request_id = make_request(session).id
            session.commit()
        with Session(engine) as session:
            from dsar.models import Request

            request = session.get(Request, request_id)
            assert request is not None
            assert request.received_at.utcoffset() is not None
            assert request.received_at.isoformat() == "2026-03-05T09:00:00+00:00"
