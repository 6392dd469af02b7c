"""The deadline monitor: what is due across all open requests, and telling the right people.

Other packages import these names from here; modules inside import each other directly.
"""

from dsar.monitor.digest import DigestSection, apply, digest_text
from dsar.monitor.purge import (
    EXPORT_DELETED,
    PURGED,
    purge_closed,
    purge_expired_exports,
    record_requeue,
    tell_rejected,
)
from dsar.monitor.report import DueItem, MonitorReport
from dsar.monitor.rules import (
    DATES,
    OPEN_STATUSES,
    RERUN_REASONS,
    STAFF,
    SUBJECT,
    DueKind,
    MonitorPolicy,
    bitmask,
    rules_for,
)
from dsar.monitor.scanning import scan

__all__ = [
    "DATES",
    "EXPORT_DELETED",
    "OPEN_STATUSES",
    "PURGED",
    "RERUN_REASONS",
    "STAFF",
    "SUBJECT",
    "DigestSection",
    "DueItem",
    "DueKind",
    "MonitorPolicy",
    "MonitorReport",
    "apply",
    "bitmask",
    "digest_text",
    "purge_closed",
    "purge_expired_exports",
    "record_requeue",
    "rules_for",
    "scan",
    "tell_rejected",
]
