"""Connectors: one module per processor behind one contract and one HTTP layer.

Other packages use the names re-exported here: the :class:`Connector` protocol and its result
types, the error tree, and :func:`build_connector` to obtain a configured connector by the name
a processing register gives it.
"""

from connectors.base import (
    ADDRESS_FIELDS,
    CHANGE_FIELDS,
    Capability,
    Changes,
    Connector,
    JobStatus,
    Located,
    Outcome,
    Record,
    Subject,
    SubjectData,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    ProtocolError,
    TransientError,
    UnknownConnector,
    Unsupported,
    ValidationFailed,
)
from connectors.http import RetryPolicy
from connectors.klaviyo import KlaviyoConnector
from connectors.mailchimp import MailchimpConnector
from connectors.ratelimit import ConcurrencyLimit, FixedWindows, LeakyBucket, RateLimiter, Unlimited
from connectors.registry import CONNECTORS, build_connector
from connectors.shopify import ShopifyConnector

__all__ = [
    "ADDRESS_FIELDS",
    "CHANGE_FIELDS",
    "CONNECTORS",
    "AuthError",
    "Capability",
    "Changes",
    "ConcurrencyLimit",
    "Connector",
    "ConnectorError",
    "FixedWindows",
    "JobStatus",
    "KlaviyoConnector",
    "LeakyBucket",
    "Located",
    "MailchimpConnector",
    "NotFound",
    "Outcome",
    "PermanentError",
    "ProtocolError",
    "RateLimiter",
    "Record",
    "RetryPolicy",
    "ShopifyConnector",
    "Subject",
    "SubjectData",
    "TransientError",
    "UnknownConnector",
    "Unlimited",
    "Unsupported",
    "ValidationFailed",
    "build_connector",
]
