"""Each shop's own settings: DSAR_CONTROLLERS__<KEY>__<SETTING>, resolved per controller.

Several registers mean several shops; one shop's credentials never serve another, unprefixed
credentials serve only a one-register installation, and production never falls back to the
sandbox's. The engine builds a connector per controller and fails a step, not the run, when a
shop lacks a credential.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

import connectors.registry as registry
from connectors import Subject
from connectors.errors import PermanentError
from dsar.cli import app as cli
from dsar.enums import StepStatus
from dsar.models import Step
from dsar.settings import (
    KLAVIYO_API_URL,
    SANDBOX_KLAVIYO_API_KEY,
    ConfigurationError,
    Settings,
    get_settings,
)
from engine import context, run_connector_step
from tests.conftest import LUNEXXA
from tests.factories import make_request

BOTH = ("lunexxa", "luma-flux")
LUNEXXA_ONLY = ("lunexxa",)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def settings_from(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    """Settings read from exactly ``env`` (besides the test's own DSAR_HOME)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    return Settings(_env_file=None)


class TestResolution:
    def test_nested_variables_are_read_under_the_register_key(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """DSAR_CONTROLLERS__LUMA_FLUX__* belong to the register key ``luma-flux``."""
        settings = settings_from(
            monkeypatch,
            DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN="shpat_luma",
            DSAR_CONTROLLERS__LUNEXXA__WEBHOOK_SECRET="lunexxa-secret",
        )
        assert set(settings.controllers) == {"luma-flux", "lunexxa"}
        luma = settings.for_controller("luma-flux", BOTH)
        assert luma.require("shopify_token") == "shpat_luma"
        assert settings.for_controller("lunexxa", BOTH).require("webhook_secret") == (
            "lunexxa-secret"
        )

    def test_one_register_is_served_by_the_unprefixed_settings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A one-shop installation stays as simple as before: DSAR_SHOPIFY_TOKEN serves it,
        the sandbox fills what is unset in development, its own value wins over both."""
        settings = settings_from(
            monkeypatch,
            DSAR_SHOPIFY_TOKEN="shpat_unprefixed",
            DSAR_WEBHOOK_SECRET="one-secret",
            DSAR_CONTROLLERS__LUNEXXA__KLAVIYO_API_KEY="pk_own",
        )
        settings.check_controllers(LUNEXXA_ONLY)
        lunexxa = settings.for_controller("lunexxa", LUNEXXA_ONLY)
        assert lunexxa.require("shopify_token") == "shpat_unprefixed"
        assert lunexxa.require("webhook_secret") == "one-secret"
        assert lunexxa.require("klaviyo_api_key") == "pk_own"
        assert lunexxa.require("mailchimp_url") == settings.mailchimp_url  # the sandbox's

    def test_several_registers_refuse_an_unprefixed_credential(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With shops configured apart, DSAR_SHOPIFY_TOKEN would serve every one: refused."""
        settings = settings_from(
            monkeypatch,
            DSAR_SHOPIFY_TOKEN="shpat_whose",
            DSAR_SHOPIFY_APP_SECRET="",  # set but empty (a compose file's default): harmless
            DSAR_CONTROLLERS__LUNEXXA__SHOPIFY_TOKEN="shpat_lunexxa",
        )
        with pytest.raises(ConfigurationError, match="DSAR_SHOPIFY_TOKEN is set") as refused:
            settings.check_controllers(BOTH)
        assert "DSAR_SHOPIFY_APP_SECRET" not in str(refused.value)
        assert settings.for_controller("luma-flux", BOTH).shopify_token is None

    def test_production_with_several_registers_refuses_the_unprefixed_webhook_secret(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In production nothing is shared between shops, configured apart or not."""
        settings = settings_from(
            monkeypatch, DSAR_ENVIRONMENT="production", DSAR_WEBHOOK_SECRET="shared"
        )
        settings.check_controllers(LUNEXXA_ONLY)
        with pytest.raises(ConfigurationError) as refused:
            settings.check_controllers(BOTH)
        assert "DSAR_WEBHOOK_SECRET is set" in str(refused.value)
        assert "DSAR_CONTROLLERS__LUMA_FLUX__WEBHOOK_SECRET must be set" in str(refused.value)

    def test_no_controller_gets_another_ones_settings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Luma-Flux without values of its own gets neither Lunexxa's nor the sandbox's; the
        shared processor host still applies."""
        settings = settings_from(
            monkeypatch,
            DSAR_KLAVIYO_URL="http://127.0.0.1:9602",
            DSAR_CONTROLLERS__LUNEXXA__SHOPIFY_TOKEN="shpat_lunexxa",
            DSAR_CONTROLLERS__LUNEXXA__KLAVIYO_API_KEY="pk_lunexxa",
            DSAR_CONTROLLERS__LUNEXXA__WEBHOOK_SECRET="lunexxa-secret",
        )
        settings.check_controllers(BOTH)
        luma = settings.for_controller("luma-flux", BOTH)
        assert luma.shopify_token is None
        assert luma.klaviyo_api_key is None
        assert luma.webhook_secret is None
        assert luma.require("klaviyo_url") == "http://127.0.0.1:9602"
        with pytest.raises(ConfigurationError) as missing:
            luma.require("shopify_token")
        assert str(missing.value) == (
            "controller 'luma-flux' has no shopify_token: "
            "set DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN"
        )

    def test_production_refuses_sandbox_defaults_naming_the_variable(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """In production an unset credential is an error naming the controller and the variable
        — even for a one-register installation, never the sandbox's token."""
        settings = settings_from(
            monkeypatch,
            DSAR_ENVIRONMENT="production",
            DSAR_CONTROLLERS__LUNEXXA__WEBHOOK_SECRET="lunexxa-secret",
            DSAR_CONTROLLERS__LUMA_FLUX__WEBHOOK_SECRET="luma-secret",
        )
        settings.check_controllers(BOTH)
        with pytest.raises(ConfigurationError, match="controller 'luma-flux'") as missing:
            settings.for_controller("luma-flux", BOTH).require("shopify_token")
        assert "DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN" in str(missing.value)
        alone = settings.for_controller("lunexxa", LUNEXXA_ONLY)
        assert alone.klaviyo_api_key is None
        assert alone.require("klaviyo_url") == KLAVIYO_API_URL
        with pytest.raises(ConfigurationError) as missing:
            alone.require("klaviyo_api_key")
        assert "DSAR_CONTROLLERS__LUNEXXA__KLAVIYO_API_KEY or DSAR_KLAVIYO_API_KEY" in str(
            missing.value
        )

    def test_the_shop_domain_gives_the_shopify_address_without_a_sandbox(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = settings_from(
            monkeypatch, DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_SHOP_DOMAIN="Luma-Flux.myshopify.com"
        )
        luma = settings.for_controller("luma-flux", BOTH)
        assert luma.shopify_shop_domain == "luma-flux.myshopify.com"
        assert luma.require("shopify_url") == "https://luma-flux.myshopify.com"

    def test_development_without_shop_settings_shares_the_sandbox(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Before any shop has settings of its own, every shop of a development installation
        talks to the one sandbox, as the demo does."""
        settings = settings_from(monkeypatch, DSAR_SHOPIFY_TOKEN="shpat_sandbox_limited")
        settings.check_controllers(BOTH)
        for key in BOTH:
            resolved = settings.for_controller(key, BOTH)
            assert resolved.require("shopify_token") == "shpat_sandbox_limited"
            assert resolved.require("klaviyo_api_key") == SANDBOX_KLAVIYO_API_KEY

    def test_settings_for_a_controller_without_a_register_are_refused(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = settings_from(monkeypatch, DSAR_CONTROLLERS__LUNEXA__SHOPIFY_TOKEN="shpat_x")
        with pytest.raises(ConfigurationError, match="no register for controller 'lunexa'"):
            settings.check_controllers(BOTH)

    def test_a_misspelt_setting_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        with pytest.raises(ValidationError, match="shopify_tokn"):
            settings_from(monkeypatch, DSAR_CONTROLLERS__LUNEXXA__SHOPIFY_TOKN="shpat_x")

    def test_serve_refuses_mixed_up_settings_with_a_message_and_exit_code_2(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DSAR_WEBHOOK_SECRET", "shared")
        monkeypatch.setenv("DSAR_CONTROLLERS__LUNEXXA__SHOPIFY_TOKEN", "shpat_lunexxa")
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["serve"])
        assert result.exit_code == 2
        assert "DSAR_WEBHOOK_SECRET is set" in result.stderr
        assert "Traceback" not in result.stdout + result.stderr


# ------------------------------------------------------------------------------------------
# Connectors per controller
# ------------------------------------------------------------------------------------------


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Connectors as the engine builds them, talking to a recorder instead of a network."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        empty = {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}
        return httpx.Response(200, json={"data": {"customers": empty}})

    original = registry.build_connector

    def build(name: str, settings: object) -> object:
        return original(name, settings, transport=httpx.MockTransport(handler))  # type: ignore[arg-type]

    monkeypatch.setattr(registry, "build_connector", build)
    return seen


def two_shops(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, env in (("lunexxa", "LUNEXXA"), ("luma-flux", "LUMA_FLUX")):
        monkeypatch.setenv(f"DSAR_CONTROLLERS__{env}__SHOPIFY_URL", f"https://{key}.shop.test")
        monkeypatch.setenv(f"DSAR_CONTROLLERS__{env}__SHOPIFY_TOKEN", f"shpat_{key}")
    get_settings.cache_clear()


class TestConnectors:
    @pytest.mark.anyio
    async def test_two_controllers_get_two_differently_configured_connectors(
        self, monkeypatch: pytest.MonkeyPatch, recorded: list[httpx.Request]
    ) -> None:
        """One connector per (loop, controller, processor): each shop's own host and token."""
        two_shops(monkeypatch)
        try:
            lunexxa = context.connector_for("lunexxa", "shopify")
            luma = context.connector_for("luma-flux", "shopify")
            assert lunexxa is not luma
            assert context.connector_for("lunexxa", "shopify") is lunexxa
            for connector in (lunexxa, luma):
                await connector.locate(Subject(emails=("someone@example.com",)))
        finally:
            await context.close_connectors()
        sent = [(r.url.host, r.headers["X-Shopify-Access-Token"]) for r in recorded]
        assert sent == [
            ("lunexxa.shop.test", "shpat_lunexxa"),
            ("luma-flux.shop.test", "shpat_luma-flux"),
        ]

    @pytest.mark.anyio
    async def test_a_missing_credential_fails_the_step_naming_controller_and_recipient(
        self, monkeypatch: pytest.MonkeyPatch, engine: Engine, recorded: list[httpx.Request]
    ) -> None:
        """Luma-Flux has no Klaviyo key: its step fails with what to set, nothing is sent."""
        two_shops(monkeypatch)
        with Session(engine) as session:
            request = make_request(session, controller="luma-flux")
            step = Step(
                request_id=request.id, recipient="newsletter", connector="klaviyo", action="export"
            )
            session.add(step)
            session.commit()
            step_id = step.id
        try:
            assert await run_connector_step(step_id) == StepStatus.FAILED.value
        finally:
            await context.close_connectors()
        with Session(engine) as session:
            failed = session.get(Step, step_id)
            assert failed is not None
            assert failed.status is StepStatus.FAILED
            assert failed.error is not None
            assert "recipient 'newsletter'" in failed.error
            assert "controller 'luma-flux'" in failed.error
            assert "DSAR_CONTROLLERS__LUMA_FLUX__KLAVIYO_API_KEY" in failed.error
        assert recorded == []

    @pytest.mark.anyio
    async def test_the_missing_credential_is_a_permanent_connector_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        two_shops(monkeypatch)
        with pytest.raises(PermanentError, match="DSAR_CONTROLLERS__LUMA_FLUX__MAILCHIMP_API_KEY"):
            context.connector_for("luma-flux", "mailchimp")

    @pytest.mark.anyio
    async def test_a_one_register_installation_keeps_its_unprefixed_credentials(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, recorded: list[httpx.Request]
    ) -> None:
        folder = tmp_path / "registers"
        folder.mkdir()
        shutil.copy(LUNEXXA, folder / LUNEXXA.name)
        monkeypatch.setenv("DSAR_REGISTERS_DIR", str(folder))
        monkeypatch.setenv("DSAR_SHOPIFY_URL", "https://only.shop.test")
        monkeypatch.setenv("DSAR_SHOPIFY_TOKEN", "shpat_only")
        monkeypatch.setenv("DSAR_CONTROLLERS__LUNEXXA__KLAVIYO_API_KEY", "pk_own")
        get_settings.cache_clear()
        try:
            shop = context.connector_for("lunexxa", "shopify")
            await shop.locate(Subject(emails=("someone@example.com",)))
        finally:
            await context.close_connectors()
        assert [(r.url.host, r.headers["X-Shopify-Access-Token"]) for r in recorded] == [
            ("only.shop.test", "shpat_only")
        ]


class TestSecretStore:
    """A shop's settings from a secret store (a Prefect Secret block's JSON object)."""

    def test_the_store_fills_what_the_environment_leaves_unset(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = settings_from(
            monkeypatch, DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_URL="https://luma.example"
        )
        settings.fill_from_store(
            "luma-flux",
            {"shopify_token": "shpat_from_block", "webhook_secret": "luma-secret"},
            source="block",
        )
        luma = settings.for_controller("luma-flux", BOTH)
        assert luma.require("shopify_token") == "shpat_from_block"
        assert luma.require("webhook_secret") == "luma-secret"
        assert luma.require("shopify_url") == "https://luma.example"
        assert settings.for_controller("lunexxa", BOTH).value("webhook_secret") is None

    def test_a_variable_wins_over_the_store(self, monkeypatch: pytest.MonkeyPatch) -> None:
        settings = settings_from(
            monkeypatch, DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN="shpat_from_env"
        )
        settings.fill_from_store("luma_flux", {"shopify_token": "shpat_from_block"}, source="b")
        luma = settings.for_controller("luma-flux", BOTH)
        assert luma.require("shopify_token") == "shpat_from_env"

    def test_an_unknown_setting_or_a_value_that_is_not_text_is_refused_by_name(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        settings = settings_from(monkeypatch)
        with pytest.raises(ConfigurationError) as refused:
            settings.fill_from_store(
                "luma-flux",
                {"shopify_tokn": "x", "klaviyo_api_key": 12},
                source="Prefect Secret block 'dsar-controller-luma-flux'",
            )
        message = str(refused.value)
        assert "dsar-controller-luma-flux" in message
        assert "'shopify_tokn' is not a controller setting" in message
        assert "'klaviyo_api_key' must be text" in message
        assert settings.controllers == {}
