"""Both shops side by side: emulators, credentials and people of their own, and
``dsar sandbox up`` serving every shop its register names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from dsar.cli import app
from dsar.register import served_controllers
from dsar.settings import ControllerSettings, controller_variable, get_settings
from sandbox import (
    BOTH_SHOPS,
    DEFAULT_CREDENTIALS,
    JONAS,
    MARIA,
    MARIA_SECOND_SHOP,
    RunningShop,
    Sandbox,
    ShopCredentials,
    ShopSpec,
    describe_shops,
    seed_sandbox,
    shop_specs,
)
from sandbox import shops as shops_module
from tests.conftest import LUMA_FLUX
from tests.sandbox.conftest import KLAVIYO_HEADERS, SHOP
from tests.sandbox.test_server import first_line_of, free_port_base

pytestmark = pytest.mark.integration

REGISTERED = {
    "lunexxa": {"shopify": "shopify", "klaviyo": "klaviyo", "newsletter": "mailchimp"},
    "luma-flux": {"shopify": "shopify", "newsletter": "klaviyo"},
}


def shopify_customers(shop: RunningShop, email: str, token: str | None = None) -> httpx.Response:
    """Shopify's REST customer search at ``shop``, with its own token unless another is given."""
    headers = {"X-Shopify-Access-Token": token or shop.credentials.shopify_token}
    return httpx.get(
        f"{shop.url('shopify')}{SHOP}/customers/search.json",
        params={"query": f"email:{email}"},
        headers=headers,
    )


def klaviyo_profiles(shop: RunningShop, email: str, key: str | None = None) -> httpx.Response:
    """Klaviyo's profiles filtered by e-mail at ``shop``, with its own key unless another."""
    headers = {
        **KLAVIYO_HEADERS,
        "Authorization": f"Klaviyo-API-Key {key or shop.credentials.klaviyo_api_key}",
    }
    return httpx.get(
        f"{shop.url('klaviyo')}/api/profiles",
        params={"filter": f'equals(email,"{email}")'},
        headers=headers,
    )


class TestSideBySide:
    def test_each_shop_has_its_own_emulators_and_credentials(
        self, sandbox_shops: dict[str, RunningShop]
    ) -> None:
        """Lunexxa keeps the single sandbox's credentials; Luma-Flux has others throughout, and
        only the emulators its register needs."""
        lunexxa, luma = sandbox_shops["lunexxa"], sandbox_shops["luma-flux"]
        assert lunexxa.credentials == DEFAULT_CREDENTIALS
        own, other = luma.credentials, lunexxa.credentials
        assert own.shopify_token != other.shopify_token
        assert own.shopify_app_secret != other.shopify_app_secret
        assert own.klaviyo_api_key != other.klaviyo_api_key
        assert own.mailchimp_api_key != other.mailchimp_api_key
        assert set(lunexxa.urls) == {"shopify", "klaviyo", "mailchimp"}
        assert set(luma.urls) == {"shopify", "klaviyo"}
        assert len({*lunexxa.urls.values(), *luma.urls.values()}) == 5

    def test_one_shops_credentials_open_nothing_at_the_other(
        self, sandbox_shops: dict[str, RunningShop]
    ) -> None:
        lunexxa, luma = sandbox_shops["lunexxa"], sandbox_shops["luma-flux"]
        refused = shopify_customers(luma, MARIA.email, token=lunexxa.credentials.shopify_token)
        assert refused.status_code == 401
        back = shopify_customers(lunexxa, MARIA.email, token=luma.credentials.shopify_token)
        assert back.status_code == 401
        wrong_key = klaviyo_profiles(luma, MARIA.email, key=lunexxa.credentials.klaviyo_api_key)
        assert wrong_key.status_code == 401
        assert shopify_customers(luma, MARIA.email).status_code == 200
        assert klaviyo_profiles(luma, MARIA.email).status_code == 200

    def test_the_person_who_shops_at_both_is_in_each_under_one_address_with_other_ids(
        self, sandbox_shops: dict[str, RunningShop]
    ) -> None:
        lunexxa, luma = sandbox_shops["lunexxa"], sandbox_shops["luma-flux"]
        assert BOTH_SHOPS.email == MARIA_SECOND_SHOP.email
        here = shopify_customers(lunexxa, BOTH_SHOPS.email).json()["customers"]
        there = shopify_customers(luma, BOTH_SHOPS.email).json()["customers"]
        assert [c["id"] for c in here] == [MARIA.shopify_customer_id]
        assert [c["id"] for c in there] == [MARIA_SECOND_SHOP.shopify_customer_id]
        assert MARIA.shopify_customer_id != MARIA_SECOND_SHOP.shopify_customer_id
        assert [c["orders_count"] for c in there] == [MARIA_SECOND_SHOP.shopify_orders]
        profiles = {
            key: [p["id"] for p in klaviyo_profiles(shop, BOTH_SHOPS.email).json()["data"]]
            for key, shop in sandbox_shops.items()
        }
        assert profiles == {
            "lunexxa": [MARIA.klaviyo_profile_id],
            "luma-flux": [MARIA_SECOND_SHOP.klaviyo_profile_id],
        }

    def test_each_shop_is_seeded_apart_and_lunexxa_as_a_single_sandbox(
        self, sandbox_shops: dict[str, RunningShop]
    ) -> None:
        """Luma-Flux knows none of Lunexxa's other personas and has a crowd of its own;
        Lunexxa holds exactly what a single sandbox holds."""
        lunexxa, luma = sandbox_shops["lunexxa"], sandbox_shops["luma-flux"]
        assert shopify_customers(luma, JONAS.email).json()["customers"] == []
        single = Sandbox.create(customers=200)
        emails = {c.id: c.email for c in lunexxa.sandbox.shopify.customers.values()}
        assert emails == {c.id: c.email for c in single.shopify.customers.values()}
        assert set(lunexxa.sandbox.klaviyo.profiles) == set(single.klaviyo.profiles)
        theirs = {c.email for c in luma.sandbox.shopify.customers.values()}
        assert len(theirs & set(emails.values())) == 1  # Maria only
        assert not set(emails) & {c.id for c in luma.sandbox.shopify.customers.values()}

    def test_every_emulator_keeps_its_call_log(self, sandbox_shops: dict[str, RunningShop]) -> None:
        luma = sandbox_shops["luma-flux"]
        shopify_customers(luma, MARIA.email)
        calls = httpx.get(f"{luma.url('shopify')}/_sandbox/calls").json()
        assert sum(r["count"] for r in calls["requests"]) == 1
        assert luma.sandbox.shopify.calls.total_requests == 1
        assert sandbox_shops["lunexxa"].sandbox.shopify.calls.total_requests == 0


class TestLayout:
    def test_the_first_shop_keeps_the_single_sandbox_and_each_further_one_moves_on(
        self,
    ) -> None:
        specs = shop_specs(REGISTERED, port_base=8601)
        lunexxa, luma = specs["lunexxa"], specs["luma-flux"]
        assert (lunexxa.port_base, lunexxa.seed, lunexxa.second_shop) == (8601, 1234, False)
        assert lunexxa.credentials == DEFAULT_CREDENTIALS
        assert (luma.port_base, luma.seed, luma.second_shop) == (8604, 1235, True)
        assert luma.credentials == ShopCredentials.for_shop("luma-flux")
        assert luma.processors == ("shopify", "klaviyo")
        assert luma.port("klaviyo") == 8605

    def test_a_spec_names_only_emulators_there_are(self) -> None:
        with pytest.raises(ValueError, match="no such emulator: stripe"):
            ShopSpec(recipients={"payments": "stripe"})
        assert ShopSpec.emulating("mailchimp", "shopify").processors == ("shopify", "mailchimp")

    @pytest.mark.parametrize("setting", sorted(ControllerSettings.model_fields))
    def test_the_variables_are_named_as_the_engine_reads_them(self, setting: str) -> None:
        for key in ("lunexxa", "luma-flux"):
            assert shops_module.controller_variable(key, setting) == controller_variable(
                key, setting
            )


class TestSecondShopSeed:
    def test_maria_is_held_as_the_second_shops_persona_says(self) -> None:
        data = seed_sandbox(seed=1235, customers=50, second_shop=True)
        customer = data.shopify.customers[MARIA_SECOND_SHOP.shopify_customer_id or 0]
        assert customer.email == MARIA_SECOND_SHOP.shopify_email
        assert len(customer.addresses) == MARIA_SECOND_SHOP.shopify_addresses
        orders = [o for o in data.shopify.orders.values() if o.customer_id == customer.id]
        assert len(orders) == MARIA_SECOND_SHOP.shopify_orders
        profile = data.klaviyo.profiles[MARIA_SECOND_SHOP.klaviyo_profile_id or ""]
        assert profile.email == MARIA_SECOND_SHOP.klaviyo_email
        assert profile.external_id == str(customer.id)
        assert len(profile.list_ids) == MARIA_SECOND_SHOP.klaviyo_lists
        events = [e for e in data.klaviyo.events.values() if e.profile_id == profile.id]
        assert len(events) == MARIA_SECOND_SHOP.klaviyo_events
        assert data.mailchimp.get(MARIA_SECOND_SHOP.email) is None
        assert list(data.mailchimp.audiences) == [data.mailchimp.list_id]


class TestEngineEnvironment:
    def test_the_env_points_each_shop_at_its_own_emulators(
        self, sandbox_shops: dict[str, RunningShop], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Exported together, the variables are a valid configuration for both shops, and each
        shop resolves to its own emulators and credentials."""
        described = describe_shops(sandbox_shops)
        for key, value in described["env"].items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        served = served_controllers()
        get_settings().check_controllers(served)
        for key, shop in sandbox_shops.items():
            own = get_settings().for_controller(key, served)
            assert own.value("shopify_url") == shop.url("shopify")
            assert own.value("shopify_token") == shop.credentials.shopify_token
            assert own.value("shopify_app_secret") == shop.credentials.shopify_app_secret
            assert own.value("klaviyo_url") == shop.url("klaviyo")
            assert own.value("klaviyo_api_key") == shop.credentials.klaviyo_api_key
        lunexxa = get_settings().for_controller("lunexxa", served)
        assert lunexxa.value("mailchimp_url") == sandbox_shops["lunexxa"].url("mailchimp")
        assert described["controllers"] == {
            key: shop.recipients() for key, shop in sandbox_shops.items()
        }


class TestSandboxUp:
    def test_json_describes_every_shop_and_the_engines_variables(self) -> None:
        """``dsar sandbox up --json``: one line with Lunexxa's emulators on top, the
        ``controllers`` block by the registers' recipient keys, and an ``env`` whose URLs
        answer; SIGINT ends it with status 0."""
        base = free_port_base(6)
        command = ["sandbox", "up", "--port-base", str(base), "--json"]
        with first_line_of(["-m", "dsar.cli.root", *command], timeout=90) as line:
            described = json.loads(line)
            assert described["shopify"] == {
                "url": f"http://127.0.0.1:{base}",
                "token": DEFAULT_CREDENTIALS.shopify_token,
            }
            assert described["mailchimp"]["url"] == f"http://127.0.0.1:{base + 2}"
            controllers = described["controllers"]
            assert {key: set(named) for key, named in controllers.items()} == {
                "lunexxa": {"shopify", "klaviyo", "newsletter"},
                "luma-flux": {"shopify", "newsletter"},
            }
            luma = controllers["luma-flux"]
            assert luma["shopify"]["url"] == f"http://127.0.0.1:{base + 3}"
            assert luma["newsletter"] == {
                "url": f"http://127.0.0.1:{base + 4}",
                "api_key": ShopCredentials.for_shop("luma-flux").klaviyo_api_key,
            }
            assert set(controllers["lunexxa"]["newsletter"]) == {"url", "api_key", "list_id"}
            env = described["env"]
            assert env["DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_URL"] == luma["shopify"]["url"]
            assert env["DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN"] == luma["shopify"]["token"]
            assert env["DSAR_CONTROLLERS__LUNEXXA__MAILCHIMP_URL"] == f"http://127.0.0.1:{base + 2}"
            assert "DSAR_SHOPIFY_TOKEN" not in env  # refused beside several shops
            with httpx.Client(headers=KLAVIYO_HEADERS) as client:
                for key in ("LUNEXXA", "LUMA_FLUX"):
                    url = env[f"DSAR_CONTROLLERS__{key}__KLAVIYO_URL"]
                    api_key = env[f"DSAR_CONTROLLERS__{key}__KLAVIYO_API_KEY"]
                    answer = client.get(
                        f"{url}/api/lists",
                        headers={"Authorization": f"Klaviyo-API-Key {api_key}"},
                    )
                    assert answer.status_code == 200

    def test_the_cli_emulates_what_the_registers_name(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """With Luma-Flux's register alone, it is the first shop: the single sandbox's ports
        and credentials, Shopify and Klaviyo only, under its recipients' keys."""
        folder = tmp_path / "registers"
        folder.mkdir()
        shutil.copy(LUMA_FLUX, folder / LUMA_FLUX.name)
        monkeypatch.setenv("DSAR_REGISTERS_DIR", str(folder))
        get_settings.cache_clear()
        served: list[dict[str, ShopSpec]] = []

        def serve(shops: dict[str, ShopSpec], **options: Any) -> None:
            served.append(shops)

        monkeypatch.setattr(shops_module, "serve_shops_forever", serve)
        result = CliRunner().invoke(app, ["sandbox", "up", "--port-base", "9100", "--json"])
        assert result.exit_code == 0, result.output
        assert served == [
            {
                "luma-flux": ShopSpec(
                    recipients={"shopify": "shopify", "newsletter": "klaviyo"}, port_base=9100
                )
            }
        ]

    def test_a_port_base_leaving_no_room_for_every_shop_is_refused(self) -> None:
        result = CliRunner().invoke(app, ["sandbox", "up", "--port-base", "65531"])
        assert result.exit_code == 2
        assert "leaves no room for 2 shops" in result.stderr
