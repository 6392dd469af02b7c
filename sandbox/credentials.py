"""The credentials the emulators accept: public on purpose, they guard nothing real.

They repeat the ``SANDBOX_*`` constants of the engine's settings, because ``sandbox`` stands
alone and must not import the engine; a test in ``tests/sandbox`` keeps the two in step.
"""

from __future__ import annotations

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
