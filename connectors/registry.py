"""Which connector class serves which ``connector:`` name in a processing register.

A register names its recipients' connectors (``connector: shopify``); :func:`build_connector`
turns such a name plus the settings into a ready connector, reading base URLs and credentials
only at that moment so that importing this module touches neither environment nor network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from connectors.base import Connector
from connectors.errors import UnknownConnector
from connectors.klaviyo import KlaviyoConnector
from connectors.mailchimp import MailchimpConnector
from connectors.shopify import ShopifyConnector
from dsar.settings import Settings

#: Register ``connector:`` names → connector classes.
CONNECTORS: Mapping[str, type[Connector]] = {
    "klaviyo": KlaviyoConnector,
    "mailchimp": MailchimpConnector,
    "shopify": ShopifyConnector,
}

_Factory = Callable[[Settings, httpx.AsyncBaseTransport | None], Connector]

_FACTORIES: Mapping[str, _Factory] = {
    "shopify": lambda s, t: ShopifyConnector(
        s.shopify_url, s.shopify_token.get_secret_value(), s.shopify_api_version, transport=t
    ),
    "klaviyo": lambda s, t: KlaviyoConnector(
        s.klaviyo_url, s.klaviyo_api_key.get_secret_value(), s.klaviyo_revision, transport=t
    ),
    "mailchimp": lambda s, t: MailchimpConnector(
        s.mailchimp_url,
        s.mailchimp_api_key.get_secret_value(),
        s.mailchimp_list_id,
        transport=t,
    ),
}


def build_connector(
    name: str, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Connector:
    """A connector for the register name ``name``, configured from ``settings``.

    Raises :class:`~connectors.errors.UnknownConnector` for a name no connector serves.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        known = ", ".join(sorted(CONNECTORS))
        raise UnknownConnector(f"no connector named {name!r}; known: {known}", processor=name)
    return factory(settings, transport)
