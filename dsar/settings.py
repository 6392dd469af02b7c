"""Runtime configuration, read once from the environment (prefix ``DSAR_``) and ``.env``.

One :class:`Settings` class behind a cached :func:`get_settings`, so tests override it by
setting variables and calling ``get_settings.cache_clear()``. Secrets are ``SecretStr`` so that
a repr or a log line never shows them. Connector credentials default to the local sandbox
emulators (``dsar sandbox up``), which is what the demo runs against.

One installation can serve several shops (controllers, one processing register each). Each
shop's credentials and secrets are its own: ``DSAR_CONTROLLERS__<KEY>__<SETTING>``
(:class:`ControllerSettings`; ``<KEY>`` is the register's key upper-cased, ``-`` as ``_``).
:meth:`Settings.for_controller` resolves what one shop works with; the unprefixed
``DSAR_SHOPIFY_TOKEN`` and friends serve a one-register installation only.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from dsar.errors import InputError

#: Credentials the sandbox emulators accept; public on purpose, they guard nothing real.
SANDBOX_SHOPIFY_TOKEN = "shpat_sandbox_0000000000000000"  # noqa: S105 - sandbox credential
SANDBOX_SHOPIFY_APP_SECRET = "sandbox-shopify-app-secret"  # noqa: S105 - sandbox credential
SANDBOX_KLAVIYO_API_KEY = "pk_sandbox_000000000000000000000000"
SANDBOX_MAILCHIMP_API_KEY = "00000000000000000000000000000000-us21"
SANDBOX_MAILCHIMP_LIST_ID = "a1b2c3d4e5"
SANDBOX_PORT_BASE = 8601

#: Klaviyo's API, where a shop's key goes when no sandbox stands in for it.
KLAVIYO_API_URL = "https://a.klaviyo.com"

#: A shop's own settings: its Shopify store and every secret. With several registers an
#: unprefixed one would serve every shop alike, so it is refused.
SHOP_SETTINGS = (
    "shopify_url",
    "shopify_token",
    "shopify_app_secret",
    "klaviyo_api_key",
    "mailchimp_api_key",
    "webhook_secret",
)
#: Settings every shop may share: the API versions the connectors speak, the processors' hosts.
SHARED_SETTINGS = ("shopify_api_version", "klaviyo_url", "klaviyo_revision", "mailchimp_url")
_VERSIONS = ("shopify_api_version", "klaviyo_revision")


class ConfigurationError(InputError):
    """Settings that contradict each other or lack a value; the message names the variable."""


def controller_variable(controller: str, setting: str) -> str:
    """The variable of one controller's setting: ``DSAR_CONTROLLERS__LUMA_FLUX__SHOPIFY_TOKEN``."""
    return f"DSAR_CONTROLLERS__{controller.upper().replace('-', '_')}__{setting.upper()}"


def _canonical(controller: str) -> str:
    """A controller key as registers write it: lower case, ``-`` (variables can only say ``_``)."""
    return controller.strip().lower().replace("_", "-")


def _text(value: str | SecretStr | None) -> str | None:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


class ControllerSettings(BaseModel):
    """One controller's processor credentials and secrets; every value optional.

    From the environment as ``DSAR_CONTROLLERS__<KEY>__<SETTING>``. An instance returned by
    :meth:`Settings.for_controller` holds what the controller really works with, ``None`` where
    nothing is configured for it; :meth:`require` then names the variable to set.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    shopify_url: str | None = None
    shopify_token: SecretStr | None = None
    shopify_api_version: str | None = None
    shopify_app_secret: SecretStr | None = None
    #: The shop's ``*.myshopify.com`` domain: routes its compliance webhooks here.
    shopify_shop_domain: str | None = None
    klaviyo_url: str | None = None
    klaviyo_api_key: SecretStr | None = None
    klaviyo_revision: str | None = None
    #: Unset without a sandbox: the data centre named by the API key.
    mailchimp_url: str | None = None
    mailchimp_api_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None

    _controller: str = PrivateAttr(default="")
    _variables: dict[str, tuple[str, ...]] = PrivateAttr(default_factory=dict)

    @field_validator("shopify_shop_domain")
    @classmethod
    def _domain_in_lower_case(cls, value: str | None) -> str | None:
        return value.lower() if value else None

    @property
    def controller(self) -> str:
        """The controller these settings were resolved for (``""``: the unprefixed ones)."""
        return self._controller

    def value(self, setting: str) -> str | None:
        """The setting as plain text (a secret revealed), ``None`` when it has none."""
        found: str | SecretStr | None = getattr(self, setting)
        return _text(found)

    def variables(self, setting: str) -> tuple[str, ...]:
        """The variables that would give ``setting`` a value here, the controller's own first."""
        return self._variables.get(setting) or (f"DSAR_{setting.upper()}",)

    def require(self, setting: str) -> str:
        """The value of ``setting``; :class:`ConfigurationError` naming the variable without."""
        found = self.value(setting)
        if not found:
            owner = f"controller {self._controller!r}" if self._controller else "the installation"
            raise ConfigurationError(
                f"{owner} has no {setting}: set {' or '.join(self.variables(setting))}"
            )
        return found


class Settings(BaseSettings):
    """Everything the engine reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="DSAR_",
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="__",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    home: Path = Field(default=Path(".dsar"), description="SQLite file, outbox, exports.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty: SQLite in home.")
    register_path: Path | None = Field(
        default=None,
        validation_alias="DSAR_REGISTER",
        description="Default processing register (YAML).",
    )
    registers_dir: Path = Field(default=Path("deployments/registers"))

    webhook_secret: SecretStr = SecretStr("")
    #: Fernet key of the retention vault (dsar.vault); in development one is made under home.
    vault_key: SecretStr = SecretStr("")
    public_url: str = "http://127.0.0.1:8600"
    smtp_url: str = ""
    mail_from: str = "privacy@dsar.invalid"

    #: The intake service's per-address rate limit (behind a proxy: all senders together).
    intake_rate_per_minute: float = Field(default=60.0, gt=0)
    intake_burst: int = Field(default=20, ge=1)

    log_level: str = "WARNING"
    log_format: Literal["auto", "json", "console"] = "auto"

    verification_ttl_hours: int = 72
    verification_max_attempts: int = 3
    export_ttl_days: int = 14
    export_max_downloads: int = 5
    async_wait_seconds: float = 120.0
    #: How long a re-run looks for the subject to vanish before erasing again, when an earlier
    #: attempt was interrupted mid-call: its asynchronous erasure may already be under way.
    reconcile_wait_seconds: float = Field(default=10.0, ge=0)
    evidence_retention_days: int = 3 * 365
    #: A person's new request within this many days of an earlier one is flagged to staff as
    #: possibly excessive (Art. 12(5)); 0 turns the flag off. Never a refusal by itself.
    repeat_request_window_days: int = Field(default=90, ge=0)

    shopify_url: str = f"http://127.0.0.1:{SANDBOX_PORT_BASE}"
    shopify_token: SecretStr = SecretStr(SANDBOX_SHOPIFY_TOKEN)
    #: The Admin API version the Shopify connector speaks: connectors.versions.SHOPIFY_API_VERSION
    #: (the domain does not import the connectors; a test keeps the two in step).
    shopify_api_version: str = "2026-10"
    shopify_app_secret: SecretStr = SecretStr(SANDBOX_SHOPIFY_APP_SECRET)
    klaviyo_url: str = f"http://127.0.0.1:{SANDBOX_PORT_BASE + 1}"
    klaviyo_api_key: SecretStr = SecretStr(SANDBOX_KLAVIYO_API_KEY)
    #: The Klaviyo revision the connector sends: connectors.versions.KLAVIYO_REVISION.
    klaviyo_revision: str = "2026-07-15"
    mailchimp_url: str = f"http://127.0.0.1:{SANDBOX_PORT_BASE + 2}"
    mailchimp_api_key: SecretStr = SecretStr(SANDBOX_MAILCHIMP_API_KEY)
    #: The connector searches every audience of the account, so it needs no list id. This one
    #: names the sandbox's default audience for tools that read a list directly, and keeps a
    #: configured ``DSAR_MAILCHIMP_LIST_ID`` valid; empty means none.
    mailchimp_list_id: str = SANDBOX_MAILCHIMP_LIST_ID

    #: Each shop's own settings by register key: ``DSAR_CONTROLLERS__<KEY>__<SETTING>``.
    controllers: dict[str, ControllerSettings] = Field(default_factory=dict)
    #: Also read each shop's settings from a Prefect Secret block ``dsar-controller-<key>``.
    secret_blocks: bool = False

    @field_validator("controllers", mode="before")
    @classmethod
    def _keys_as_registers_write_them(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_canonical(str(key)): settings for key, settings in value.items()}
        return value

    @model_validator(mode="after")
    def _mailchimp_data_centre_from_the_key_in_production(self) -> Settings:
        """In production an unset ``DSAR_MAILCHIMP_URL`` means the key's data centre, never the
        sandbox's address."""
        if self.environment == "production" and "mailchimp_url" not in self.model_fields_set:
            self.mailchimp_url = ""
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets_in_production(self) -> Settings:
        own = any(c.value("webhook_secret") for c in self.controllers.values())
        if self.environment == "production" and not (self.webhook_secret.get_secret_value() or own):
            raise ValueError(
                "DSAR_WEBHOOK_SECRET (or DSAR_CONTROLLERS__<KEY>__WEBHOOK_SECRET for each shop) "
                "must be set when DSAR_ENVIRONMENT=production"
            )
        return self

    def shares_unprefixed_settings(self) -> bool:
        """Whether every shop works with the unprefixed settings: in development, as long as no
        shop has settings of its own (the shipped registers then share the one sandbox)."""
        return self.environment == "development" and not self.controllers

    def _explicit(self, setting: str) -> bool:
        return setting in self.model_fields_set and bool(_text(getattr(self, setting)))

    def for_controller(self, controller: str, registered: Collection[str]) -> ControllerSettings:
        """What ``controller`` works with, ``registered`` being the controllers served.

        Its own ``DSAR_CONTROLLERS__<KEY>__*`` values first. The unprefixed ones
        (``DSAR_SHOPIFY_TOKEN``...) fill in only when ``controller`` is the one register served,
        or while :meth:`shares_unprefixed_settings`; with several registers one shop never gets
        another's credentials, only the shared API versions and processor hosts. The sandbox's
        defaults fill gaps only in development, and only where the unprefixed settings may;
        what stays unset is ``None``, and :meth:`ControllerSettings.require` says what to set.
        """
        key = _canonical(controller)
        own = self.controllers.get(key) or ControllerSettings()
        alone = {_canonical(r) for r in registered} == {key}
        unprefixed = alone or self.shares_unprefixed_settings()
        sandbox = unprefixed and self.environment == "development"
        values: dict[str, Any] = {}
        variables: dict[str, tuple[str, ...]] = {}
        for setting in ControllerSettings.model_fields:
            inherits = setting in SHARED_SETTINGS or (unprefixed and setting in SHOP_SETTINGS)
            variables[setting] = (controller_variable(controller, setting),) + (
                (f"DSAR_{setting.upper()}",) if inherits else ()
            )
            if own.value(setting):
                values[setting] = getattr(own, setting)
            elif inherits and (self._explicit(setting) or sandbox or setting in _VERSIONS):
                values[setting] = getattr(self, setting)
            else:
                values[setting] = _without_sandbox(setting, own)
        resolved = ControllerSettings(**values)
        resolved._controller = controller
        resolved._variables = variables
        return resolved

    def fill_from_store(self, controller: str, values: Mapping[str, Any], *, source: str) -> None:
        """Give ``controller`` the settings a secret store holds for it (a Prefect Secret
        block's JSON object of setting → value), where its environment sets none: a variable
        always wins. An unknown setting or a value that is not text is refused, naming ``source``.
        """
        fields = ControllerSettings.model_fields
        problems = [
            f"{name!r} is not a controller setting" for name in values if name not in fields
        ]
        problems += [
            f"{name!r} must be text" for name, value in values.items() if not isinstance(value, str)
        ]
        if problems:
            raise ConfigurationError(f"{source}: " + "; ".join(sorted(problems)))
        key = _canonical(controller)
        own = self.controllers.get(key) or ControllerSettings()
        merged: dict[str, Any] = {name: value for name, value in values.items() if value}
        merged.update({name: getattr(own, name) for name in fields if own.value(name)})
        self.controllers[key] = ControllerSettings(**merged)

    def unprefixed(self) -> ControllerSettings:
        """The unprefixed settings as one shop's, defaults included (tools and tests)."""
        return ControllerSettings(
            **{setting: getattr(self, setting) for setting in SHOP_SETTINGS + SHARED_SETTINGS}
        )

    def controller_problems(self, registered: Collection[str]) -> list[str]:
        """What keeps the settings from serving the ``registered`` controllers apart."""
        served = sorted(registered)
        names = ", ".join(served) or "none"
        problems = [
            f"{controller_variable(key, '*')}: no register for controller {key!r} (served: {names})"
            for key in sorted(self.controllers)
            if key not in {_canonical(r) for r in served}
        ]
        if len({_canonical(r) for r in served}) < len(served):
            problems.append(f"two registers share one DSAR_CONTROLLERS__<KEY> name: {names}")
        if len(served) > 1 and not self.shares_unprefixed_settings():
            problems += [
                f"DSAR_{setting.upper()} is set, but this installation serves several shops "
                f"({names}): set {controller_variable('<key>', setting)} for each instead"
                for setting in SHOP_SETTINGS
                if self._explicit(setting)
            ]
        if self.environment == "production":
            for key in served:
                secret = self.for_controller(key, served)
                if not secret.value("webhook_secret"):
                    needed = " or ".join(secret.variables("webhook_secret"))
                    problems.append(f"{needed} must be set when DSAR_ENVIRONMENT=production")
        return problems

    def check_controllers(self, registered: Collection[str]) -> None:
        """Refuse, at start-up, settings that would mix up the ``registered`` shops."""
        problems = self.controller_problems(registered)
        if problems:
            raise ConfigurationError("invalid configuration: " + "; ".join(problems))

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or SQLite in :attr:`home` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'dsar.db').as_posix()}"

    @property
    def outbox_dir(self) -> Path:
        """Where e-mails are written as ``.eml`` files when no SMTP server is configured."""
        return self.home / "outbox"

    @property
    def exports_dir(self) -> Path:
        """Where access and portability packages are stored until downloaded or expired."""
        return self.home / "exports"


def _without_sandbox(setting: str, own: ControllerSettings) -> str | None:
    """A setting's value where no sandbox stands in: the processor's own host, else nothing."""
    if setting == "klaviyo_url":
        return KLAVIYO_API_URL
    if setting == "mailchimp_url":
        return ""
    if setting == "shopify_url" and own.shopify_shop_domain:
        return f"https://{own.shopify_shop_domain}"
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
