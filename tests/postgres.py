"""A throwaway PostgreSQL server for tests, or a clean skip when none can be started.

The server runs from the machine's own binaries (``initdb``/``pg_ctl``, e.g. Debian's
``postgresql`` package under ``/usr/lib/postgresql/*/bin``) on a temporary data directory, a
free TCP port on 127.0.0.1 and a Unix socket directory inside that temporary directory, with
durability switched off because nothing in it outlives the test session. PostgreSQL refuses to
run as root, so as root the server runs as the ``postgres`` system user through ``runuser``.

``postgres_server`` starts one server per test session; ``postgres_url`` gives each test its
own fresh database and drops it afterwards.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsar.store import get_engine

SUPERUSER = "dsar"


def _binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, newest version first."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class PostgresServer:
    """A running server: its admin URL and how to build a URL for one database."""

    port: int

    def url(self, database: str) -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` on this server.

        Lock waits give up after a while, so a test that deadlocks fails instead of hanging.
        """
        options = "options=-c%20lock_timeout%3D20s"
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}?{options}"


def _as_server_user(argv: list[str]) -> list[str]:
    """Run ``argv`` as the ``postgres`` user when we are root (the server refuses root)."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and no 'postgres' user exists to run PostgreSQL")
    return [runuser, "-u", "postgres", "--", *argv]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the test session; skips when none can start."""
    bindir = _binaries()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="dsar-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    port = _free_port()
    initdb = [str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust"]
    initdb += ["--no-sync", "-E", "UTF8", "--locale=C"]
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    options += " -c synchronous_commit=off -c full_page_writes=off"
    pg_ctl = str(bindir / "pg_ctl")
    start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "30", "start"]
    stop = _as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
    watchdog = _watchdog(stop, root)
    try:
        for argv in (initdb, start):
            done = subprocess.run(  # noqa: S603 - fixed argv built above, no shell
                _as_server_user(argv), capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                tail = log.read_text()[-500:] if log.exists() else done.stderr[-500:]
                pytest.skip(f"PostgreSQL did not start: {tail.strip()}")
        yield PostgresServer(port=port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(stop, capture_output=True, check=False)  # noqa: S603 - fixed argv
        watchdog.kill()
        watchdog.wait()
        shutil.rmtree(root, ignore_errors=True)


def _watchdog(stop: list[str], root: Path) -> subprocess.Popen[bytes]:
    """A process that stops the server and removes its files if this test run is killed.

    A run ended by a signal skips fixture teardown; without this the server would outlive it.
    It runs in its own session so that a signal to the test run's process group spares it.
    """
    script = (
        f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; "
        f"{shlex.join(stop)} >/dev/null 2>&1; rm -rf {shlex.quote(str(root))}"
    )
    return subprocess.Popen(  # noqa: S603 - fixed script built above from quoted parts
        ["/bin/sh", "-c", script],
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server; dropped after the test."""
    name = f"dsar_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.url("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = postgres_server.url(name)
        yield url
        get_engine(url).dispose()
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        admin.dispose()
