"""Closed vocabularies shared across the domain: regimes, request kinds, statuses, channels."""

from __future__ import annotations

from enum import StrEnum


class Regime(StrEnum):
    """The law whose deadlines and duties govern a request."""

    GDPR = "gdpr"
    UK_GDPR = "uk-gdpr"
    CCPA = "ccpa"
    VCDPA = "vcdpa"
    CPA = "cpa"
    LGPD = "lgpd"
    CTDPA = "ctdpa"  # Connecticut Data Privacy Act
    TDPSA = "tdpsa"  # Texas Data Privacy and Security Act
    POLICY = "policy"  # no privacy law applies: the business's own stated policy governs


class RequestKind(StrEnum):
    """What the data subject asks for (GDPR article in the comment)."""

    ACCESS = "access"  # Art. 15
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21, incl. Art. 7(3) withdrawal of marketing consent
    OPT_OUT = "opt-out"  # US: sale/sharing and targeted advertising (Cal. Civ. Code § 1798.120)
    LIMIT_SENSITIVE = "limit-sensitive"  # US: sensitive personal information (§ 1798.121)


class RequestStatus(StrEnum):
    """Where a request stands; the allowed moves live in :mod:`dsar.lifecycle`."""

    RECEIVED = "received"
    VERIFYING = "verifying"
    IN_PROGRESS = "in_progress"
    AWAITING_MANUAL = "awaiting_manual"
    COMPLETED = "completed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    FAILED = "failed"


class StepStatus(StrEnum):
    """Progress of one planned action on one recipient."""

    PLANNED = "planned"
    RUNNING = "running"
    PENDING = "pending"  # an asynchronous job at the processor is not finished yet
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class NoticeStatus(StrEnum):
    """Delivery of one message sent on a request's behalf."""

    PENDING = "pending"  # claimed for sending; not yet confirmed by the transport
    SENT = "sent"
    FAILED = "failed"


class ManualTaskStatus(StrEnum):
    """Staff's work for a recipient without an API."""

    OPEN = "open"
    DONE = "done"


class Verdict(StrEnum):
    """Whether a recipient received a person's data (:mod:`dsar.evidence`)."""

    RECEIVED = "received"
    NOT_RECEIVED = "not_received"
    UNDETERMINED = "undetermined"


class Channel(StrEnum):
    """How a request reached the controller."""

    STAFF = "staff"
    CONTACT_FORM = "contact_form"
    SHOPIFY_WEBHOOK = "shopify_webhook"
    WEB_PAGE = "web_page"
    SCHEDULE = "schedule"


class RecipientRole(StrEnum):
    """GDPR role of a recipient of personal data."""

    PROCESSOR = "processor"
    INDEPENDENT_CONTROLLER = "independent_controller"
