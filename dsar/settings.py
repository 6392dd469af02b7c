"""Runtime configuration, read once from the environment (prefix ``DSAR_``) and ``.env``.

One :class:`Settings` class behind a cached :func:`get_settings`, so tests override it by
setting variables and calling ``get_settings.cache_clear()``. Secrets are ``SecretStr`` so that
a repr or a log line never shows them. Connector credentials default to the local sandbox
emulators (``dsar sandbox up``), which is what the demo runs against.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Credentials the sandbox emulators accept; public on purpose, they guard nothing real.
SANDBOX_SHOPIFY_TOKEN = "shpat_sandbox_0000000000000000"  # noqa: S105 - sandbox credential
SANDBOX_SHOPIFY_APP_SECRET = "sandbox-shopify-app-secret"  # noqa: S105 - sandbox credential
SANDBOX_KLAVIYO_API_KEY = "pk_sandbox_000000000000000000000000"
SANDBOX_MAILCHIMP_API_KEY = "00000000000000000000000000000000-us21"
SANDBOX_MAILCHIMP_LIST_ID = "a1b2c3d4e5"
SANDBOX_PORT_BASE = 8601


class Settings(BaseSettings):
    """Everything the engine reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="DSAR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
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

    @model_validator(mode="after")
    def _mailchimp_data_centre_from_the_key_in_production(self) -> Settings:
        """In production an unset ``DSAR_MAILCHIMP_URL`` means the key's data centre, never the
        sandbox's address."""
        if self.environment == "production" and "mailchimp_url" not in self.model_fields_set:
            self.mailchimp_url = ""
        return self

    @model_validator(mode="after")
    def _refuse_placeholder_secrets_in_production(self) -> Settings:
        if self.environment == "production" and not self.webhook_secret.get_secret_value():
            raise ValueError("DSAR_WEBHOOK_SECRET must be set when DSAR_ENVIRONMENT=production")
        return self

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
