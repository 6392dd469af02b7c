"""Local emulators of the processors' APIs (Shopify, Klaviyo, Mailchimp) with seeded data.

They follow the documented contracts (paths, authentication, JSON shapes, error bodies,
pagination, asynchronous jobs, rate limits) so that connectors can be tested against real
HTTP, and they can misbehave on demand (:class:`FaultConfig`). Several shops run side by side,
each with emulators, credentials and people of its own (:func:`running_shops`). This package
stands alone: it imports nothing from the engine.
"""

from sandbox.calllog import CallLog
from sandbox.config import EmulatorConfig
from sandbox.credentials import (
    DEFAULT_CREDENTIALS,
    KLAVIYO_API_KEY,
    MAILCHIMP_API_KEY,
    MAILCHIMP_EVENTS_LIST_ID,
    MAILCHIMP_LIST_ID,
    SHOPIFY_APP_SECRET,
    SHOPIFY_TOKEN,
    ShopCredentials,
)
from sandbox.faults import DroppedConnection, FaultConfig, FaultInjector
from sandbox.klaviyo import KlaviyoState, create_klaviyo_app
from sandbox.mailchimp import MailchimpState, create_mailchimp_app
from sandbox.personas import BOTH_SHOPS, MARIA_SECOND_SHOP, SECOND_SHOP_PERSONAS
from sandbox.ratelimit import KlaviyoLimits, MailchimpLimits, ShopifyLimits, Tier
from sandbox.seed import (
    JONAS,
    MARIA,
    NEWSLETTER_ONLY,
    NOBODY,
    PERSONAS,
    SHOP_ONLY,
    Persona,
    seed_sandbox,
)
from sandbox.server import RunningSandbox, Sandbox, running_sandbox, serve_forever
from sandbox.shopify import ShopifyState, create_shopify_app
from sandbox.shops import (
    RunningShop,
    ShopSpec,
    describe_shops,
    running_shops,
    serve_shops_forever,
    shop_specs,
)

__all__ = [
    "BOTH_SHOPS",
    "DEFAULT_CREDENTIALS",
    "JONAS",
    "KLAVIYO_API_KEY",
    "MAILCHIMP_API_KEY",
    "MAILCHIMP_EVENTS_LIST_ID",
    "MAILCHIMP_LIST_ID",
    "MARIA",
    "MARIA_SECOND_SHOP",
    "NEWSLETTER_ONLY",
    "NOBODY",
    "PERSONAS",
    "SECOND_SHOP_PERSONAS",
    "SHOPIFY_APP_SECRET",
    "SHOPIFY_TOKEN",
    "SHOP_ONLY",
    "CallLog",
    "DroppedConnection",
    "EmulatorConfig",
    "FaultConfig",
    "FaultInjector",
    "KlaviyoLimits",
    "KlaviyoState",
    "MailchimpLimits",
    "MailchimpState",
    "Persona",
    "RunningSandbox",
    "RunningShop",
    "Sandbox",
    "ShopCredentials",
    "ShopSpec",
    "ShopifyLimits",
    "ShopifyState",
    "Tier",
    "create_klaviyo_app",
    "create_mailchimp_app",
    "create_shopify_app",
    "describe_shops",
    "running_sandbox",
    "running_shops",
    "seed_sandbox",
    "serve_forever",
    "serve_shops_forever",
    "shop_specs",
]
