"""What one pass of the deadline monitor found: items of attention and the counts behind them.

A :class:`MonitorReport` travels from the scan (:mod:`dsar.monitor.scanning`) to the mails
(:mod:`dsar.monitor.digest`), to the Prefect flow's artifact and to the CLI's table. It holds
ids, kinds, dates and statuses only, never an identity of a subject, so it may be shown and
stored anywhere.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from dsar.monitor.rules import DueKind, MonitorPolicy


@dataclass(frozen=True, slots=True)
class DueItem:
    """One reason one request needs attention; ids and dates only, never identities.

    ``on`` is the date that matters for ``kind`` (due date, extension-notice date or receipt
    confirmation date); ``done`` says the item was already notified (or re-queued) earlier.
    """

    request_id: str
    controller: str
    kind: DueKind
    on: date
    status: str
    purpose: str | None = None
    done: bool = False
    detail: str = ""
    step_id: str | None = None

    def row(self, today: date) -> dict[str, Any]:
        """The item as a table row for the CLI and the Prefect artifact."""
        return {
            "request": self.request_id,
            "controller": self.controller,
            "kind": self.kind.value,
            "date": self.on.isoformat(),
            "days": (self.on - today).days,
            "status": self.status,
            "detail": self.detail,
            "state": "done" if self.done else "new",
        }


@dataclass
class MonitorReport:
    """What one pass found: counts of everything, the first ``max_rows`` items, and the work
    lists the flow carries out (re-runs, jobs to poll) — plus, once applied, what was done.

    ``rows_scanned`` counts the rows the database returned (per-day sums, rows shown, re-runs,
    jobs), ``batches`` the fetches that brought them and ``largest_batch`` the most held at once.
    """

    today: date
    now: datetime
    policy: MonitorPolicy = field(default_factory=MonitorPolicy)
    items: list[DueItem] = field(default_factory=list)
    totals: Counter[str] = field(default_factory=Counter)
    new: Counter[str] = field(default_factory=Counter)
    truncated: int = 0
    staff_new: Counter[tuple[str, str]] = field(default_factory=Counter)  # (controller, purpose)
    requeue: list[tuple[str, str]] = field(default_factory=list)  # (request id, reason)
    pending_jobs: list[DueItem] = field(default_factory=list)
    rows_scanned: int = 0
    batches: int = 0
    largest_batch: int = 0
    actions: Counter[str] = field(default_factory=Counter)

    def keep(self, item: DueItem) -> None:
        """Count ``item``, and show it while there is room (else count it as cut)."""
        self.totals[item.kind] += 1
        if not item.done:
            self.new[item.kind] += 1
        if self.full:
            self.truncated += 1
        else:
            self.items.append(item)

    @property
    def full(self) -> bool:
        """Whether the rows shown reached ``max_rows``."""
        return len(self.items) >= self.policy.max_rows

    @property
    def staff_controllers(self) -> set[str]:
        """Controllers whose staff have something new to be told."""
        return {controller for controller, _ in self.staff_new}

    def table_rows(self) -> list[dict[str, Any]]:
        """The kept items as rows, soonest first (no personal data)."""
        return [item.row(self.today) for item in self.items]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the date, counts per kind, what was done, and the rows."""
        return {
            "today": self.today.isoformat(),
            "totals": dict(sorted(self.totals.items())),
            "new": dict(sorted(self.new.items())),
            "actions": dict(sorted(self.actions.items())),
            "rows": self.table_rows(),
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MonitorReport:
        """Rebuild the shown part of a report from :meth:`to_dict` (a flow's return value)."""
        today = date.fromisoformat(data["today"])
        report = cls(today=today, now=datetime.combine(today, time.min, UTC))
        report.items = [
            DueItem(
                request_id=row["request"],
                controller=row["controller"],
                kind=DueKind(row["kind"]),
                on=date.fromisoformat(row["date"]),
                status=row["status"],
                done=row["state"] == "done",
                detail=row["detail"],
            )
            for row in data["rows"]
        ]
        report.totals.update(data["totals"])
        report.new.update(data["new"])
        report.actions.update(data["actions"])
        report.truncated = int(data["truncated"])
        return report
