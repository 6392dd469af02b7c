"""The intake service: the channels through which requests reach the controller.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.intake.app import create_app
from dsar.intake.classifier import classify, normalise
from dsar.intake.guard import MAX_BODY, IntakeRejection, RateLimit, TokenBucket, shopify_hmac
from dsar.intake.language import detect_language
from dsar.intake.main import choose_dispatcher, rate_limit_of
from dsar.intake.page import CSRF_COOKIE, CsrfGuard, page_language
from dsar.intake.state import NoopDispatcher
from dsar.intake.store import write_session

__all__ = [
    "CSRF_COOKIE",
    "MAX_BODY",
    "CsrfGuard",
    "IntakeRejection",
    "NoopDispatcher",
    "RateLimit",
    "TokenBucket",
    "choose_dispatcher",
    "classify",
    "create_app",
    "detect_language",
    "normalise",
    "page_language",
    "rate_limit_of",
    "shopify_hmac",
    "write_session",
]
