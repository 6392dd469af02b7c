"""Each shop's credentials from a Prefect Secret block, for installations that keep them there.

With ``DSAR_SECRET_BLOCKS=1`` a controller's settings may also come from a Secret block named
``dsar-controller-<key>`` (the register's controller key, e.g. ``dsar-controller-luma-flux``)
holding a JSON object of the same settings as ``DSAR_CONTROLLERS__<KEY>__<SETTING>`` names,
in lower case: ``{"shopify_token": "…", "klaviyo_api_key": "…", "webhook_secret": "…"}``.
A variable in the environment wins over the block; a controller without a block keeps what
the environment gives it. Blocks are read once per process (and per settings object), before
the first request of the process needs a connector or a secret.

Create one with Prefect's client::

    from prefect.blocks.system import Secret
    Secret(value={"shopify_token": "shpat_…"}).save("dsar-controller-luma-flux")
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from prefect.blocks.system import Secret

from dsar.logging import get_logger
from dsar.register import served_controllers
from dsar.settings import ConfigurationError, get_settings

log = get_logger("dsar.flows.secrets")

#: ``(id of the settings object, controller)`` whose block was looked for in this process.
_looked_up: set[tuple[int, str]] = set()


def block_name(controller: str) -> str:
    """The Secret block that holds ``controller``'s settings."""
    return f"dsar-controller-{controller.strip().lower().replace('_', '-')}"


async def load_secret_blocks(controllers: Iterable[str] | None = None) -> list[str]:
    """Fill the ``controllers``' (default: every one served) unset settings from their Secret
    blocks when ``DSAR_SECRET_BLOCKS`` asks for it; returns the controllers that had a block.

    A block that holds anything but an object of text settings raises
    :class:`~dsar.settings.ConfigurationError` naming the block.
    """
    settings = get_settings()
    if not settings.secret_blocks:
        return []
    found = []
    for controller in controllers if controllers is not None else served_controllers():
        key = (id(settings), controller)
        if key in _looked_up:
            continue
        name = block_name(controller)
        try:
            block = cast("Secret[Any]", await Secret.aload(name))
        except ValueError:  # Prefect's answer for a block that does not exist
            _looked_up.add(key)
            continue
        values = block.get()
        if not isinstance(values, dict):
            raise ConfigurationError(
                f"Prefect Secret block {name!r} must hold a JSON object of settings"
            )
        settings.fill_from_store(controller, values, source=f"Prefect Secret block {name!r}")
        _looked_up.add(key)
        found.append(controller)
        log.info("controller_secrets_loaded", controller=controller, settings=sorted(values))
    return found
