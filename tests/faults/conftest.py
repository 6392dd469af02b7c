"""Fixtures of the fault suite: emulators that misbehave on purpose, fast connectors, Prefect.

Every fault is drawn from a seeded RNG (:mod:`sandbox.faults`), so a run sees the same
sequence of faults each time; only the interleaving of concurrent requests varies.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from dsar.settings import get_settings
from sandbox.faults import FaultConfig
from sandbox.server import RunningSandbox, Sandbox, running_sandbox
from tests.conftest import LUMA_FLUX, LUNEXXA
from tests.faults.harness import (
    ASYNC_DELAY,
    TIME_SCALE,
    install_fast_connectors,
    write_api_only_register,
)
from tests.mailsink import Inbox

PUBLIC_URL = "https://privacy.lunexxa.example"

ServeSandbox = Callable[..., AbstractContextManager[RunningSandbox]]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """The Prefect test API: the one ``tests/flows`` started when it is up, else our own.

    Starting a Prefect test server costs seconds; when the flow suite's session fixture is
    already serving, its settings are in force and are reused.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    serving = SubprocessASGIServer._instances.get(None)  # where the harness registers itself
    if serving is not None and PREFECT_API_URL.value() == serving.api_url:
        yield
        return
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def fast_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connectors on the emulators' compressed time with millisecond retry back-off (see
    :mod:`tests.faults.harness`)."""
    install_fast_connectors(monkeypatch.setattr)


def point_engine_at(running: RunningSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the engine's settings to the served emulators."""
    for key, value in running.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_PUBLIC_URL", PUBLIC_URL)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "5")
    get_settings.cache_clear()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, engine: Any) -> ServeSandbox:
    """Serve emulators (``faults``, ``seed``, a prepared ``sandbox``...) and point the engine
    at them for the ``with`` block."""

    @contextmanager
    def serve_(
        *,
        faults: FaultConfig | dict[str, FaultConfig] | None = None,
        sandbox: Sandbox | None = None,
        seed: int = 1234,
        customers: int = 300,
    ) -> Iterator[RunningSandbox]:
        kwargs: dict[str, Any] = (
            {"sandbox": sandbox}
            if sandbox is not None
            else {
                "customers": customers,
                "seed": seed,
                "faults": faults,
                "async_delay": ASYNC_DELAY,
                "time_scale": TIME_SCALE,
            }
        )
        with running_sandbox(**kwargs) as running:
            point_engine_at(running, monkeypatch)
            yield running

    return serve_


def use_api_only_registers(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the engine at the shipped registers, Lunexxa's cut to the recipients that have
    an API (Luma-Flux keeps its recipients without one); returns the folder."""
    write_api_only_register(folder, source=LUNEXXA)
    shutil.copy(LUMA_FLUX, folder / LUMA_FLUX.name)
    monkeypatch.setenv("DSAR_REGISTERS_DIR", str(folder))
    get_settings.cache_clear()
    return folder


@pytest.fixture
def api_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The registers of :func:`use_api_only_registers` for this test."""
    return use_api_only_registers(tmp_path / "registers", monkeypatch)


@pytest.fixture
def quiet_sandbox(serve: ServeSandbox) -> Iterator[RunningSandbox]:
    """Emulators without faults, on compressed time."""
    with serve() as running:
        yield running


@pytest.fixture
def flow_env(
    prefect_api: None,
    quiet_sandbox: RunningSandbox,
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Inbox:
    """Real Prefect flows against quiet emulators and an SMTP sink; returns the inbox."""
    inbox, url = smtp
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    get_settings.cache_clear()
    return inbox
