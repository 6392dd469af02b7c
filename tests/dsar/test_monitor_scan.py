"""The monitor's pass counts in the database and reads only what it shows, yet reports exactly
what testing every open request against every rule reports — on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import and_, event
from sqlalchemy import select as core_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dsar.enums import Channel, NoticeStatus, Regime, RequestKind, RequestStatus, StepStatus
from dsar.models import Notice, Request, Step, new_id
from dsar.monitor import (
    DATES,
    OPEN_STATUSES,
    RERUN_REASONS,
    STAFF,
    SUBJECT,
    DueItem,
    DueKind,
    MonitorPolicy,
    MonitorReport,
    apply,
    bitmask,
    record_requeue,
    rules_for,
    scan,
)
from dsar.notify import FileMailer
from dsar.store import get_engine, init_db

TODAY = date(2026, 4, 1)
NOW = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
CONTROLLERS = ("lunexxa", "luma-flux")
#: What ANALYZE writes for the request table of ``python -m bench.monitor``'s million requests
#: (rows, then rows per distinct prefix of each index): most requests look alike.
BENCHMARK_STATISTICS = {
    "ix_request_monitor_due": "1000001 250001 10990 10990 10990 10990 10990 1",
    "ix_request_controller": "1000001 1000001",
    "ix_request_closed_at": "1000001 1000001",
    "ix_request_status_verified": "1000001 250001 250001",
    "ix_request_effective_due_date": "1000001 32259",
    "ix_request_acknowledgement": "1000001 250001 250001 250001 250001 1",
    "ix_request_status": "1000001 250001",
    "ix_request_controller_status": "1000001 1000001 250001",
    "ix_request_status_updated": "1000001 250001 15626",
    "sqlite_autoindex_request_2": "1000001 1",
    "sqlite_autoindex_request_1": "1000001 1",
}
#: (max_rows, batch_size): room for everything, and limits that cut pages and items anywhere.
LIMITS = ((500, 1000), (7, 3), (40, 16), (1, 1))


def populate(session: Session, seed: int, count: int = 300) -> None:
    """Open and closed requests of every kind of trouble, deadlines crowded on few days (so
    that ids break ties), some already notified, re-queued, or waiting on a processor job."""
    rng = random.Random(seed)
    old = NOW - timedelta(hours=3)
    statuses = list(RequestStatus)
    purposes = [
        (STAFF, "reminder-3"),
        (STAFF, "reminder-10"),
        (STAFF, "extension-decision"),
        (STAFF, f"escalation:{TODAY.isoformat()}"),
        (STAFF, f"attention:{TODAY.isoformat()}"),
        (SUBJECT, "acknowledgement"),
    ]
    for _ in range(count):
        due = TODAY + timedelta(days=rng.randint(-6, 24))
        extended = rng.random() < 0.1
        owes = rng.random() < 0.25
        request = Request(
            id=new_id(),
            controller=rng.choice(CONTROLLERS),
            kind=rng.choice(list(RequestKind)),
            channel=rng.choice(list(Channel)),
            status=rng.choice(statuses),
            regime=Regime.CCPA if owes else Regime.GDPR,
            idempotency_key=new_id(),
            email="subject@example.com",
            received_at=NOW - timedelta(days=30),
            received_on=TODAY - timedelta(days=30),
            due_date=due,
            effective_due_date=due + timedelta(days=45) if extended else due,
            extended=extended,
            extension_notice_by=due if rng.random() < 0.9 else None,
            extension_notified_at=old if extended or rng.random() < 0.05 else None,
            acknowledge_by=TODAY + timedelta(days=rng.randint(-2, 9)) if owes else None,
            acknowledged_at=old if owes and rng.random() < 0.4 else None,
            verified_at=rng.choice([None, old, NOW - timedelta(minutes=5)]),
            details=rng.choice(
                [{}, {"classification": {"kind": "access", "confident": rng.random() < 0.5}}]
            ),
            updated_at=rng.choice([old, NOW - timedelta(minutes=5)]),
        )
        session.add(request)
        session.flush()  # the notices, steps and events below refer to it
        for recipient, purpose in rng.sample(purposes, rng.choice([0, 0, 1, 2])):
            session.add(
                Notice(
                    request_id=request.id,
                    recipient=recipient,
                    purpose=purpose,
                    channel="email",
                    status=NoticeStatus(rng.choice(["sent", "sent", "pending", "failed"])),
                )
            )
        if rng.random() < 0.3:
            session.add(
                Step(
                    request_id=request.id,
                    recipient="klaviyo",
                    connector=rng.choice(["klaviyo", "manual"]),
                    action="erase",
                    status=rng.choice([StepStatus.PENDING, StepStatus.DONE]),
                    external_ref=rng.choice([None, "job"]),
                    started_at=rng.choice([old, NOW - timedelta(minutes=5)]),
                )
            )
        session.flush()
        for _ in range(rng.choice([0, 0, 0, 1, 3])):
            at = rng.choice([NOW - timedelta(days=2), NOW - timedelta(minutes=1)])
            record_requeue(session, request_id=request.id, reason="failed", now=at)
    session.commit()


def row_by_row(
    session: Session, *, today: date, now: datetime, policy: MonitorPolicy
) -> MonitorReport:
    """What the pass must report: every open request read, soonest due first, each rule tested
    on it, the items kept in that order until ``max_rows``."""
    chosen = rules_for(today, now, policy)
    report = MonitorReport(today=today, now=now, policy=policy)
    statement = (
        core_select(
            col(Request.id),
            col(Request.controller),
            col(Request.status),
            *DATES,
            bitmask([rule.where for rule in chosen]),
            bitmask([and_(rule.where, rule.done) for rule in chosen]),
        )
        .where(col(Request.status).in_(OPEN_STATUSES))
        .order_by(col(Request.effective_due_date), col(Request.id))
    )
    for request_id, controller, status, *dates, applies, sent in session.execute(statement):
        for i, rule in enumerate(chosen):
            if not applies >> i & 1:
                continue
            done = bool(sent >> i & 1)
            if rule.kind is DueKind.REQUEUE and not done:
                report.requeue.append((request_id, RERUN_REASONS[status]))
            if rule.tells_staff and not done:
                report.staff_new[controller, str(rule.purpose)] += 1
            item = DueItem(
                request_id=request_id,
                controller=controller,
                kind=rule.kind,
                on=dates[rule.on],
                status=status.value,
                purpose=rule.purpose,
                done=done,
                detail=rule.detail or (status.value if rule.kind is DueKind.REQUEUE else ""),
            )
            report.keep(item)
    jobs = []
    for step in session.exec(select(Step).order_by(col(Step.id))):
        request = session.get(Request, step.request_id)
        assert request is not None
        if (
            step.status is StepStatus.PENDING
            and step.connector != "manual"
            and step.external_ref is not None
            and step.started_at is not None
            and step.started_at <= now - policy.poll_after
            and request.status.value in {s.value for s in OPEN_STATUSES}
        ):
            jobs.append((request.effective_due_date, step, request))
    for due, step, request in sorted(jobs, key=lambda job: (job[0], job[1].id)):
        item = DueItem(
            request.id,
            request.controller,
            DueKind.PENDING_JOB,
            due,
            request.status.value,
            detail=f"{step.recipient}:{step.action}",
            step_id=step.id,
        )
        report.keep(item)
        report.pending_jobs.append(item)
    report.items.sort(key=lambda item: (item.on, item.request_id, item.kind))
    return report


def same_report(found: MonitorReport, expected: MonitorReport) -> None:
    assert found.items == expected.items
    assert found.totals == expected.totals
    assert found.new == expected.new
    assert found.truncated == expected.truncated
    assert found.staff_new == expected.staff_new
    assert found.requeue == expected.requeue
    assert found.pending_jobs == expected.pending_jobs


def each_pass(session: Session) -> Iterator[tuple[date, datetime, MonitorPolicy]]:
    for days in (0, 3):
        for max_rows, batch_size in LIMITS:
            policy = MonitorPolicy(max_rows=max_rows, batch_size=batch_size)
            yield TODAY + timedelta(days=days), NOW + timedelta(days=days), policy


class TestSameAsRowByRow:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_counts_items_and_work_lists_match_testing_every_request(
        self, session: Session, seed: int
    ) -> None:
        """Totals, new counts, staff counts per controller, the items kept (and cut), the
        re-runs and the jobs equal a row-by-row classification, whatever the limits."""
        populate(session, seed)
        for today, now, policy in each_pass(session):
            found = scan(session, today=today, now=now, policy=policy)
            same_report(found, row_by_row(session, today=today, now=now, policy=policy))

    def test_a_wide_extension_window_reaches_past_the_reminders(self, session: Session) -> None:
        """With the extension window beyond the last reminder margin, requests in between that
        need nothing are passed over and the items still come out as row by row."""
        populate(session, 4)
        policy = MonitorPolicy(extension_window_days=20, max_rows=30, batch_size=4)
        found = scan(session, today=TODAY, now=NOW, policy=policy)
        same_report(found, row_by_row(session, today=TODAY, now=NOW, policy=policy))


class TestWhatLeavesTheDatabase:
    def test_only_the_rows_shown_are_read(self, session: Session) -> None:
        """However many requests are due, a pass reads per-controller sums and the max_rows
        items shown, in pages of at most batch_size."""
        populate(session, 5, count=600)
        policy = MonitorPolicy(max_rows=20, batch_size=8)
        report = scan(session, today=TODAY, now=NOW, policy=policy)
        shown = len(report.items)
        assert sum(report.totals.values()) > 10 * shown
        work = len(report.requeue) + len(report.pending_jobs)
        assert report.rows_scanned <= shown + work + 3 * len(CONTROLLERS)
        assert report.largest_batch <= policy.batch_size

    @pytest.mark.parametrize("statistics", ["none", "own", "benchmark"])
    def test_no_statement_of_a_pass_walks_every_request(
        self, session: Session, engine: Engine, statistics: str
    ) -> None:
        """SQLite's plan for every statement of a pass reads requests through index ranges,
        never the whole table or a whole index: without statistics (the engine runs no
        ANALYZE), with this database's, and with those of the benchmark's million requests."""
        populate(session, 6)
        statements: list[tuple[str, Any]] = []

        def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", keep)
        try:  # items from the due-date pages only, then from every range
            for policy in (MonitorPolicy(max_rows=5), MonitorPolicy()):
                scan(session, today=TODAY, now=NOW, policy=policy)
        finally:
            event.remove(engine, "before_cursor_execute", keep)
        session.rollback()
        assert statements
        database = Path(str(engine.url.database))
        if statistics != "none":
            with sqlite3.connect(database) as db:
                db.execute("ANALYZE")
                if statistics == "benchmark":
                    db.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'request'")
                    db.executemany(
                        "INSERT INTO sqlite_stat1 VALUES ('request', ?, ?)",
                        BENCHMARK_STATISTICS.items(),
                    )
        with sqlite3.connect(database) as db:  # a new connection reads the statistics
            for statement, parameters in statements:
                plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)]
                walks = [line for line in plan if re.match(r"SCAN request\b", line)]
                assert walks == [], (statement[:120], plan)


class TestPostgres:
    def test_the_pass_and_its_digest_agree_on_postgres(
        self, postgres_url: str, tmp_path: Path
    ) -> None:
        """On PostgreSQL the pass reports what row-by-row testing reports, and once its
        digests are sent (each counting its notices) a second pass finds no new staff item."""
        engine = get_engine(postgres_url)
        init_db(engine)
        with Session(engine, expire_on_commit=False) as session:
            populate(session, 7)
            for today, now, policy in each_pass(session):
                found = scan(session, today=today, now=now, policy=policy)
                same_report(found, row_by_row(session, today=today, now=now, policy=policy))
            report = scan(session, today=TODAY, now=NOW, policy=MonitorPolicy())
            assert report.staff_controllers
            apply(session, report, mailer=FileMailer(tmp_path / "outbox"))
            assert report.actions["digests_sent"] == len(report.staff_controllers)
            assert report.actions["staff_notices"] == sum(report.staff_new.values())
            again = scan(session, today=TODAY, now=NOW, policy=MonitorPolicy())
            assert again.staff_new == {}
            del again.totals[DueKind.ACKNOWLEDGE], report.totals[DueKind.ACKNOWLEDGE]
            assert again.totals == report.totals  # the receipts were confirmed, the rest stays
