"""The staff console's keys and limits: the session secret, the evidence key, the lookup key.

Each comes from its setting (``DSAR_SESSION_SECRET``, ``DSAR_EVIDENCE_KEY``,
``DSAR_LOOKUP_KEY``). In development an unset one is generated once and kept under
``DSAR_HOME/keys`` (readable by the owner only), so a restart keeps sessions, evidence files
and look-ups valid; with ``DSAR_ENVIRONMENT=production`` an unset one is a configuration error.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dsar.settings import ConfigurationError, get_settings

#: Largest evidence file staff may upload unless ``DSAR_STAFF_UPLOAD_MAX_BYTES`` says otherwise.
DEFAULT_UPLOAD_MAX_BYTES = 10 * 1024 * 1024


class StaffSettings(BaseSettings):
    """The console's own settings (prefix ``DSAR_``)."""

    model_config = SettingsConfigDict(
        env_prefix="DSAR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    session_secret: SecretStr = SecretStr("")
    evidence_key: SecretStr = SecretStr("")
    lookup_key: SecretStr = SecretStr("")
    staff_upload_max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES
    staff_session_hours: float = 8.0


def staff_settings() -> StaffSettings:
    """The console's settings, read from the environment now."""
    return StaffSettings()


def _kept(name: str, make: bytes) -> bytes:
    """The development key ``name`` under ``DSAR_HOME/keys``, written with ``make`` when new."""
    folder = get_settings().home / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return Path(path).read_bytes().strip()
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(make)
    return make


def _key(setting: str, name: str, make: bytes) -> bytes:
    configured: SecretStr = getattr(staff_settings(), setting)
    value = configured.get_secret_value().strip()
    if value:
        return value.encode("utf-8")
    if get_settings().environment == "production":
        raise ConfigurationError(
            f"DSAR_{setting.upper()} must be set when DSAR_ENVIRONMENT=production"
        )
    return _kept(name, make)


def session_secret() -> bytes:
    """What signs the console's session cookies."""
    return _key("session_secret", "session.secret", secrets.token_urlsafe(48).encode())


def evidence_key() -> bytes:
    """The Fernet key evidence files are encrypted with."""
    return _key("evidence_key", "evidence.key", Fernet.generate_key())


def lookup_key() -> bytes:
    """The key of the requester e-mail look-up hashes."""
    return _key("lookup_key", "lookup.key", secrets.token_urlsafe(48).encode())


def upload_limit() -> int:
    """Largest evidence file accepted, in bytes."""
    return staff_settings().staff_upload_max_bytes
