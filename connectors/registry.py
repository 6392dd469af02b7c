"""Which connector class serves which ``connector:`` name in a processing register.

A register names its recipients' connectors (``connector: shopify``); :func:`build_connector`
turns such a name plus one controller's settings into a ready connector, reading base URLs and
credentials only at that moment so that importing this module touches neither environment nor
network. A credential the controller lacks is a :class:`MissingCredential`: a permanent error
that fails the step with the variable to set, never a connector with an empty key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from connectors.base import Connector
from connectors.errors import AuthError, UnknownConnector
from connectors.http import RetryPolicy
from connectors.klaviyo import KlaviyoConnector
from connectors.mailchimp import MailchimpConnector
from connectors.ratelimit import ConcurrencyLimit, FixedWindows, LeakyBucket, RateLimiter
from connectors.shopify import ShopifyConnector
from dsar.settings import ConfigurationError, ControllerSettings, Settings

#: Shopify's GraphQL cost bucket: points, and points restored per second (Standard plan; the
#: connector follows the figures Shopify reports in every answer).
SHOPIFY_POINTS = 2000
SHOPIFY_RESTORE_RATE = 100.0

#: Register ``connector:`` names → connector classes.
CONNECTORS: Mapping[str, type[Connector]] = {
    "klaviyo": KlaviyoConnector,
    "mailchimp": MailchimpConnector,
    "shopify": ShopifyConnector,
}

_Factory = Callable[
    [ControllerSettings, httpx.AsyncBaseTransport | None, RateLimiter, RetryPolicy | None],
    Connector,
]

_FACTORIES: Mapping[str, _Factory] = {
    "shopify": lambda s, t, rate, retry: ShopifyConnector(
        s.require("shopify_url"),
        s.require("shopify_token"),
        s.require("shopify_api_version"),
        transport=t,
        rate=rate,
        retry=retry,
    ),
    "klaviyo": lambda s, t, rate, retry: KlaviyoConnector(
        s.require("klaviyo_url"),
        s.require("klaviyo_api_key"),
        s.require("klaviyo_revision"),
        transport=t,
        rate=rate,
        retry=retry,
    ),
    "mailchimp": lambda s, t, rate, retry: MailchimpConnector(
        s.value("mailchimp_url") or None,
        s.require("mailchimp_api_key"),
        transport=t,
        rate=rate,
        retry=retry,
    ),
}


class MissingCredential(AuthError):
    """The controller has no credential (or address) configured for this processor."""


def default_limiter(name: str, time_scale: float = 1.0) -> RateLimiter:
    """The client-side limiter a processor's published limits call for, its clock scaled by
    ``time_scale`` (benchmarks and tests compress time the same way the emulators do)."""
    if name == "shopify":
        # The connector speaks GraphQL only: Shopify's bucket of cost points (Standard plan).
        return LeakyBucket(
            capacity=SHOPIFY_POINTS, leak_rate=SHOPIFY_RESTORE_RATE, time_scale=time_scale
        )
    if name == "klaviyo":
        return FixedWindows(time_scale=time_scale)
    return ConcurrencyLimit(10)  # Mailchimp: a concurrency cap, no clock


def build_connector(
    name: str,
    settings: ControllerSettings | Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    time_scale: float = 1.0,
    retry: RetryPolicy | None = None,
) -> Connector:
    """A connector for the register name ``name``, configured from one controller's settings
    (:meth:`Settings.for_controller`); a whole :class:`Settings` stands for its unprefixed ones.

    ``time_scale`` scales the rate limiter's clock and ``retry`` replaces the default retry
    policy; both exist for benchmarks and tests that compress time. Raises
    :class:`~connectors.errors.UnknownConnector` for a name no connector serves and
    :class:`MissingCredential` (naming the variable to set) for a value the settings lack.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownConnector(f"no connector named {name!r}; known: {known}", processor=name)
    own = settings.unprefixed() if isinstance(settings, Settings) else settings
    try:
        return factory(own, transport, default_limiter(name, time_scale), retry)
    except ConfigurationError as exc:
        raise MissingCredential(str(exc), processor=name) from exc
