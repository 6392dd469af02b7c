"""Fixtures shared by every test: an isolated engine home, fresh settings, clean logging."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session

from dsar.settings import get_settings
from dsar.store import get_engine, init_db

pytest_plugins = ["tests.mailsink", "tests.postgres"]

REPO = Path(__file__).resolve().parent.parent
REGISTERS = REPO / "deployments" / "registers"
LUNEXXA = REGISTERS / "lunexxa.yaml"
LUMA_FLUX = REGISTERS / "luma-flux.yaml"


@pytest.fixture(autouse=True)
def dsar_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own DSAR_HOME (SQLite, outbox, exports) and freshly read settings."""
    import os

    for key in list(os.environ):
        if key.startswith("DSAR_"):
            monkeypatch.delenv(key)
    home = tmp_path / "dsar-home"
    monkeypatch.setenv("DSAR_HOME", str(home))
    monkeypatch.setenv("DSAR_REGISTERS_DIR", str(REGISTERS))
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()
    structlog.reset_defaults()
    logging.getLogger("dsar").handlers.clear()
    for engine in _engines_of(home):
        engine.dispose()


def _engines_of(home: Path) -> list[Engine]:
    url = f"sqlite:///{(home / 'dsar.db').as_posix()}"
    return [get_engine(url)] if (home / "dsar.db").exists() else []


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect test API for the whole session (starting one costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def collect_after_flow_runs(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that ran flows, collect what it left behind at once.

    A flow run killed on purpose leaves an asyncio task whose exception nobody retrieved; when
    collected, asyncio logs it with its traceback. Collected in the middle of a later test's
    ``ast.parse``, that traceback's own parsing makes Python 3.11 fail the test with "AST
    constructor recursion depth mismatch".
    """
    yield
    if "prefect_api" in request.fixturenames:
        gc.collect()


@pytest.fixture
def sandbox() -> Iterator[Any]:
    """Fresh emulators per test: erasures change their state."""
    from sandbox.server import running_sandbox

    with running_sandbox(customers=200, async_delay=0.2) as running:
        yield running


@pytest.fixture
def sandbox_shops() -> Iterator[dict[str, Any]]:
    """Both shipped shops' emulators side by side, each for the recipients its register reaches
    through them, with credentials and people of its own: Lunexxa's as the ``sandbox`` fixture's,
    Luma-Flux's holding Maria under her own ids. Free ports; fresh per test."""
    from dsar.register import register_for
    from sandbox.shops import running_shops, shop_specs

    emulated = ("shopify", "klaviyo", "mailchimp")
    recipients = {
        key: {r.key: r.connector for r in register_for(key).recipients if r.connector in emulated}
        for key in ("lunexxa", "luma-flux")
    }
    specs = shop_specs(recipients, port_base=None)
    with running_shops(specs, customers=200, async_delay=0.2) as shops:
        yield shops


@pytest.fixture
def engine(dsar_home: Path) -> Engine:
    """The test's own SQLite database with all tables."""
    engine = get_engine(get_settings().effective_database_url)
    init_db(engine)
    return engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test database; the test commits what it wants kept."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
