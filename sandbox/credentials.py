"""The credentials the emulators accept: public on purpose, they guard nothing real.

They repeat the ``SANDBOX_*`` constants of the engine's settings, because ``sandbox`` stands
alone and must not import the engine; a test in ``tests/sandbox`` keeps the two in step.

A sandbox emulates one shop; :class:`ShopCredentials` are what that shop's emulators accept. The
first shop keeps the constants below (:data:`DEFAULT_CREDENTIALS`); every further shop gets its
own (:meth:`ShopCredentials.for_shop`), so one shop's token opens nothing at another's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

SHOPIFY_TOKEN = "shpat_sandbox_0000000000000000"  # noqa: S105 - sandbox credential
SHOPIFY_APP_SECRET = "sandbox-shopify-app-secret"  # noqa: S105 - sandbox credential
#: The access scopes of :data:`SHOPIFY_TOKEN`: everything the engine needs, including the
#: orders older than 60 days (``read_all_orders``), as a custom app's token would carry them.
SHOPIFY_SCOPES = frozenset(
    {
        "read_customers",
        "write_customers",
        "read_orders",
        "read_all_orders",
        "write_customer_data_erasure",
    }
)
KLAVIYO_API_KEY = "pk_sandbox_000000000000000000000000"
MAILCHIMP_API_KEY = "00000000000000000000000000000000-us21"
MAILCHIMP_LIST_ID = "a1b2c3d4e5"
#: The account's second audience, for workshops and events: a person may be in both.
MAILCHIMP_EVENTS_LIST_ID = "f6e5d4c3b2"

#: Shopify on N, Klaviyo on N+1, Mailchimp on N+2.
DEFAULT_PORT_BASE = 8601


@dataclass(frozen=True)
class ShopCredentials:
    """What one shop's emulators accept: its Shopify token (with :data:`SHOPIFY_SCOPES`) and
    app secret, its Klaviyo private key, its Mailchimp key and newsletter audience."""

    shopify_token: str = SHOPIFY_TOKEN
    shopify_app_secret: str = SHOPIFY_APP_SECRET
    klaviyo_api_key: str = KLAVIYO_API_KEY
    mailchimp_api_key: str = MAILCHIMP_API_KEY
    mailchimp_list_id: str = MAILCHIMP_LIST_ID

    @classmethod
    def for_shop(cls, key: str) -> ShopCredentials:
        """Credentials of the shop ``key``, the same on every start and unlike any other shop's
        (each shaped like the vendor's own: ``shpat_``, ``pk_``, ``-us21``)."""
        digest = hashlib.sha256(f"dsar-sandbox:{key}".encode()).hexdigest()
        return cls(
            shopify_token=f"shpat_sandbox_{digest[:16]}",
            shopify_app_secret=f"sandbox-shopify-app-secret-{digest[16:24]}",
            klaviyo_api_key=f"pk_sandbox_{digest[24:48]}",
            mailchimp_api_key=f"{digest[32:64]}-us21",
            mailchimp_list_id=digest[:10],
        )


#: The first shop's credentials: the constants above, which the engine's settings default to.
DEFAULT_CREDENTIALS = ShopCredentials()
