"""Fixtures for connector unit tests: fake time, a respx router as transport, fast policies."""

from __future__ import annotations

import httpx
import pytest
import respx

from connectors.http import RetryPolicy
from tests.connectors.fakes import FakeTime


@pytest.fixture
def anyio_backend() -> str:
    """Connector tests run on asyncio, the loop Prefect and uvicorn use."""
    return "asyncio"


@pytest.fixture
def fake_time() -> FakeTime:
    """Fake time for retry back-off and rate limiters; tests assert on ``sleeps``."""
    return FakeTime()


@pytest.fixture
def policy(fake_time: FakeTime) -> RetryPolicy:
    """The default retry bounds, on fake time."""
    return RetryPolicy(sleep=fake_time.sleep, clock=fake_time.clock)


@pytest.fixture
def router() -> respx.Router:
    """A respx router; an unmatched request fails the test."""
    return respx.Router(assert_all_called=False, assert_all_mocked=True)


@pytest.fixture
def transport(router: respx.Router) -> httpx.AsyncBaseTransport:
    """The router as an injected transport, so no socket is ever opened."""
    return httpx.MockTransport(router.async_handler)
