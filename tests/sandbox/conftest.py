"""Fixtures for the emulator tests: small seeded sandboxes on a fake clock, in-process clients."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from sandbox import KLAVIYO_API_KEY, MAILCHIMP_API_KEY, SHOPIFY_TOKEN, Sandbox

SHOPIFY_HEADERS = {"X-Shopify-Access-Token": SHOPIFY_TOKEN}
KLAVIYO_HEADERS = {
    "Authorization": f"Klaviyo-API-Key {KLAVIYO_API_KEY}",
    "revision": "2026-07-15",
    "Accept": "application/vnd.api+json",
}
MAILCHIMP_AUTH = ("anystring", MAILCHIMP_API_KEY)
SHOP = "/admin/api/2026-10"


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    """The fake clock the test's sandbox runs on."""
    return FakeClock()


@pytest.fixture
def sandbox(clock: FakeClock) -> Sandbox:
    """A small sandbox on the fake clock; asynchronous jobs complete after 1 nominal second."""
    return Sandbox.create(customers=120, async_delay=1.0, clock=clock)


def client(app: Starlette, base_url: str, **kwargs: object) -> httpx.AsyncClient:
    """An httpx client that talks to ``app`` in-process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=base_url,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def shopify(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the sandbox's Shopify emulator."""
    async with client(sandbox.shopify_app, "http://shop.test", headers=SHOPIFY_HEADERS) as c:
        yield c


@pytest.fixture
async def klaviyo(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the sandbox's Klaviyo emulator."""
    async with client(sandbox.klaviyo_app, "http://klaviyo.test", headers=KLAVIYO_HEADERS) as c:
        yield c


@pytest.fixture
async def mailchimp(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client of the sandbox's Mailchimp emulator."""
    async with client(sandbox.mailchimp_app, "http://mailchimp.test", auth=MAILCHIMP_AUTH) as c:
        yield c


def run_contract_tool(name: str, source: Path, target: Path) -> None:
    """Run ``tools/contracts/<name>.py`` from ``source`` into ``target``, as a file is run."""
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        f"{name}_tool", root / f"tools/contracts/{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--source", str(source), "--target", str(target)]) == 0
