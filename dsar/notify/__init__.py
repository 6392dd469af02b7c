"""Telling people: mail to subjects and staff, Art. 19 notices, signed webhooks.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.notify.send import (
    claim_notice,
    describe_error,
    mark_failed,
    mark_sent,
    send_notice,
    send_to_subject,
)
from dsar.notify.signatures import SIGNATURE_HEADER, SignatureError, sign_payload, verify_signature
from dsar.notify.templates import (
    ART19_ACTIONS,
    TEMPLATE_DIR,
    TEMPLATES,
    VARIABLES,
    NotificationError,
    art19_webhook_payload,
    render,
)
from dsar.notify.transport import (
    FileMailer,
    Mailer,
    SmtpMailer,
    build_message,
    mailer_from_settings,
)

__all__ = [
    "ART19_ACTIONS",
    "SIGNATURE_HEADER",
    "TEMPLATES",
    "TEMPLATE_DIR",
    "VARIABLES",
    "FileMailer",
    "Mailer",
    "NotificationError",
    "SignatureError",
    "SmtpMailer",
    "art19_webhook_payload",
    "build_message",
    "claim_notice",
    "describe_error",
    "mailer_from_settings",
    "mark_failed",
    "mark_sent",
    "render",
    "send_notice",
    "send_to_subject",
    "sign_payload",
    "verify_signature",
]
