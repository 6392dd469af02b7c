"""A shop's credentials kept in a Prefect Secret block instead of the environment.

With ``DSAR_SECRET_BLOCKS=1`` the flows read ``dsar-controller-<key>`` before their first
connector: Luma-Flux's processor credentials exist only in its block, and its erasure reaches
its own emulators with them; Lunexxa, configured by variables, is untouched.
"""

from __future__ import annotations

import asyncio

import pytest
from prefect.blocks.system import Secret
from sqlmodel import col, select

from dsar.enums import RequestKind, StepStatus
from dsar.models import Step
from dsar.settings import ConfigurationError, controller_variable, get_settings
from dsar.store import session_scope
from flows.secrets import block_name, load_secret_blocks
from sandbox import BOTH_SHOPS, MARIA_SECOND_SHOP, RunningShop, describe_shops
from tests.flows.conftest import run
from tests.flows.test_shops_apart import requests_received, submit_at
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration

#: Luma-Flux's credentials, moved from the environment into its Secret block.
MOVED = ("shopify_token", "klaviyo_api_key")


@pytest.fixture
def luma_in_block(
    prefect_api: None,
    sandbox_shops: dict[str, RunningShop],
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, RunningShop]:
    """Both shops' emulators; Luma-Flux's credentials only in ``dsar-controller-luma-flux``."""
    _, url = smtp
    env = describe_shops(sandbox_shops)["env"]
    moved = {name: env.pop(controller_variable("luma-flux", name)) for name in MOVED}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "15")
    monkeypatch.setenv("DSAR_PUBLIC_URL", "https://privacy.example")
    monkeypatch.setenv("DSAR_SECRET_BLOCKS", "1")
    Secret(value=moved).save(block_name("luma-flux"), overwrite=True)
    get_settings.cache_clear()
    return sandbox_shops


def test_an_erasure_reaches_the_shop_with_the_credentials_of_its_block(
    luma_in_block: dict[str, RunningShop],
) -> None:
    lunexxa, luma = luma_in_block["lunexxa"], luma_in_block["luma-flux"]
    before = requests_received(lunexxa)
    request_id = submit_at("luma-flux", RequestKind.ERASURE, BOTH_SHOPS.email)
    assert run(request_id) in {"completed", "awaiting_manual"}
    with session_scope() as session:
        steps = session.exec(select(Step).where(col(Step.request_id) == request_id)).all()
        failed = [(s.recipient, s.error) for s in steps if s.status is StepStatus.FAILED]
    assert failed == []
    customer = str(MARIA_SECOND_SHOP.shopify_customer_id)
    assert luma.sandbox.shopify.calls.effects("erasure_requested", customer) == 1
    assert luma.sandbox.klaviyo.calls.effects("deletion_requested") == 1
    assert requests_received(lunexxa) == before


def test_a_block_that_is_not_an_object_of_settings_is_refused_by_name(
    luma_in_block: dict[str, RunningShop],
) -> None:
    Secret(value={"shopify_tokn": "shpat_x"}).save(block_name("lunexxa"), overwrite=True)
    try:
        with pytest.raises(ConfigurationError, match="dsar-controller-lunexxa"):
            asyncio.run(load_secret_blocks(["lunexxa"]))
    finally:
        Secret(value={}).save(block_name("lunexxa"), overwrite=True)
