"""Two shops, one installation: a request at one shop reaches only that shop's processors.

Both shipped registers are served, each shop with emulators, credentials and data of its own
(``sandbox_shops``) and every credential given as ``DSAR_CONTROLLERS__<KEY>__<SETTING>``. Maria
is a customer of both under the same address. Erasing her at one shop sends not one request to
the other's emulators, and the other shop still holds her.

(A contact-form post signed with one shop's secret for the other is refused and nothing is
stored: ``tests/intake/test_shops_apart.py``.)
"""

from __future__ import annotations

import httpx
import pytest

from dsar.enums import Channel, RequestKind
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from dsar.store import session_scope
from sandbox import BOTH_SHOPS, MARIA, MARIA_SECOND_SHOP, RunningShop, describe_shops
from tests.flows.conftest import run
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration

#: The Shopify Admin API version the emulator serves and the connector speaks.
SHOP = "/admin/api/2026-10"


@pytest.fixture
def shops_env(
    prefect_api: None,
    sandbox_shops: dict[str, RunningShop],
    smtp: tuple[Inbox, str],
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, RunningShop]:
    """Point the engine at both shops' emulators, each through its own variables only."""
    _, url = smtp
    for key, value in describe_shops(sandbox_shops)["env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DSAR_SMTP_URL", url)
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "15")
    monkeypatch.setenv("DSAR_PUBLIC_URL", "https://privacy.example")
    get_settings.cache_clear()
    return sandbox_shops


def submit_at(controller: str, kind: RequestKind, email: str) -> str:
    """Store a verified request at ``controller``'s shop and return its id."""
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=email,
                verified_by="verified in person at the shop counter",
            ),
            register=register_for(controller),
            actor="test",
        )
        return request.id


def requests_received(shop: RunningShop) -> dict[str, int]:
    """Requests each of the shop's emulators has received so far."""
    box = shop.sandbox
    logs = {
        "shopify": box.shopify.calls,
        "klaviyo": box.klaviyo.calls,
        "mailchimp": box.mailchimp.calls,
    }
    return {name: logs[name].total_requests for name in shop.urls}


def customer_ids(shop: RunningShop, email: str) -> list[int]:
    """The shop's Shopify customers with ``email``, searched over HTTP with its own token."""
    answer = httpx.get(
        f"{shop.url('shopify')}{SHOP}/customers/search.json",
        params={"query": f"email:{email}"},
        headers={"X-Shopify-Access-Token": shop.credentials.shopify_token},
    )
    answer.raise_for_status()
    return [customer["id"] for customer in answer.json()["customers"]]


class TestErasureStaysAtItsShop:
    def test_an_erasure_at_luma_flux_leaves_every_lunexxa_emulator_untouched(
        self, shops_env: dict[str, RunningShop]
    ) -> None:
        lunexxa, luma = shops_env["lunexxa"], shops_env["luma-flux"]
        before = requests_received(lunexxa)
        assert run(submit_at("luma-flux", RequestKind.ERASURE, BOTH_SHOPS.email)) in {
            "completed",
            "awaiting_manual",
        }
        assert requests_received(lunexxa) == before
        assert lunexxa.sandbox.shopify.calls.snapshot()["side_effects"] == []
        box = luma.sandbox
        customer = str(MARIA_SECOND_SHOP.shopify_customer_id)
        assert box.shopify.calls.effects("erasure_requested", customer) == 1
        assert box.klaviyo.calls.effects("deletion_requested") == 1
        assert customer_ids(luma, BOTH_SHOPS.email) == []
        assert box.klaviyo.find("email", BOTH_SHOPS.email) == []
        assert customer_ids(lunexxa, BOTH_SHOPS.email) == [MARIA.shopify_customer_id]
        held = lunexxa.sandbox.klaviyo.find("email", BOTH_SHOPS.email)
        assert [profile.id for profile in held] == [MARIA.klaviyo_profile_id]

    def test_an_erasure_at_lunexxa_leaves_every_luma_flux_emulator_untouched(
        self, shops_env: dict[str, RunningShop]
    ) -> None:
        lunexxa, luma = shops_env["lunexxa"], shops_env["luma-flux"]
        before = requests_received(luma)
        assert run(submit_at("lunexxa", RequestKind.ERASURE, BOTH_SHOPS.email)) in {
            "completed",
            "awaiting_manual",
        }
        assert requests_received(luma) == before
        box = lunexxa.sandbox
        assert box.shopify.calls.effects("erasure_requested") == 1
        assert box.klaviyo.calls.effects("deletion_requested") == 1
        assert box.mailchimp.calls.effects("member_deleted_permanently") == 1
        assert customer_ids(luma, BOTH_SHOPS.email) == [MARIA_SECOND_SHOP.shopify_customer_id]
        held = luma.sandbox.klaviyo.find("email", BOTH_SHOPS.email)
        assert [profile.id for profile in held] == [MARIA_SECOND_SHOP.klaviyo_profile_id]


def test_each_shop_reads_only_its_own_processors(shops_env: dict[str, RunningShop]) -> None:
    """An access request at Luma-Flux copies Maria's data from its emulators only."""
    lunexxa = shops_env["lunexxa"]
    before = requests_received(lunexxa)
    assert run(submit_at("luma-flux", RequestKind.ACCESS, BOTH_SHOPS.email)) == "completed"
    assert requests_received(lunexxa) == before
    assert shops_env["luma-flux"].sandbox.shopify.calls.total_requests > 0
