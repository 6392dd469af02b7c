"""The deadline monitor tells staff and subjects exactly what is due, once, and forgets in time."""

from __future__ import annotations

import email
import email.policy
import smtplib
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlmodel import Session, col, func, select

from dsar import identity, lifecycle
from dsar.audit import append_event, events_for, verify_chain
from dsar.enums import Channel, Regime, RequestStatus, StepStatus
from dsar.errors import InputError
from dsar.models import AuditEvent, Export, ManualTask, Notice, Request, Step, new_id
from dsar.monitor import (
    EXPORT_DELETED,
    PURGED,
    DigestSection,
    DueKind,
    MonitorPolicy,
    MonitorReport,
    apply,
    digest_text,
    purge_closed,
    purge_expired_exports,
    record_requeue,
    scan,
    tell_rejected,
)
from dsar.notify import FileMailer
from tests.factories import make_request

TODAY = date(2026, 4, 1)
NOW = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
POLICY = MonitorPolicy()
LUNEXXA_STAFF = "support@lunexxa.com"
SUBJECT_EMAIL = "subject@example.com"


class Outbox:
    """A FileMailer outbox that can be read back."""

    def __init__(self, folder: Path) -> None:
        self.mailer = FileMailer(folder)
        self.folder = folder

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.folder.glob("*.eml"))
        ]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if str(m["To"]) == address]


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox")


def due(days: int, **overrides: Any) -> dict[str, Any]:
    """Fields of a request whose deadline is ``days`` from TODAY (negative: overdue)."""
    day = TODAY + timedelta(days=days)
    fields: dict[str, Any] = {
        "due_date": day,
        "effective_due_date": day,
        "extension_notice_by": day,
        "updated_at": NOW,
    }
    fields.update(overrides)
    return fields


def seed(session: Session) -> dict[str, str]:
    """Requests across due dates; returns their ids by role."""
    ids = {
        "overdue": make_request(session, **due(-2, status=RequestStatus.IN_PROGRESS)).id,
        "in_2": make_request(session, **due(2)).id,
        "in_5": make_request(session, **due(5)).id,
        "in_6": make_request(session, **due(6)).id,
        "in_10": make_request(session, **due(10)).id,
        "in_11": make_request(session, **due(11)).id,
        "in_30": make_request(session, **due(30)).id,
        "extended": make_request(
            session,
            **due(
                6,
                extended=True,
                extended_due_date=TODAY + timedelta(days=66),
                effective_due_date=TODAY + timedelta(days=66),
            ),
        ).id,
        "closed_overdue": make_request(
            session, **due(-5, status=RequestStatus.COMPLETED, closed_at=NOW)
        ).id,
        "ccpa_unconfirmed": make_request(
            session,
            **due(40, controller="luma-flux", regime=Regime.CCPA),
            acknowledge_by=TODAY + timedelta(days=9),
        ).id,
        "ccpa_confirmed": make_request(
            session,
            **due(40, controller="luma-flux", regime=Regime.CCPA),
            acknowledge_by=TODAY + timedelta(days=9),
            acknowledged_at=NOW - timedelta(days=1),
        ).id,
        "failed": make_request(session, **due(20, status=RequestStatus.FAILED)).id,
        "failed_often": make_request(session, **due(20, status=RequestStatus.FAILED)).id,
    }
    for _ in range(POLICY.max_requeues):
        record_requeue(session, request_id=ids["failed_often"], reason="failed")
    session.commit()
    return ids


def kinds(report: MonitorReport) -> set[tuple[str, DueKind]]:
    return {(item.request_id, item.kind) for item in report.items if not item.done}


def staff_notices(session: Session) -> Counter[str]:
    rows = session.exec(
        select(Notice.purpose).where(Notice.recipient == "staff", Notice.status == "sent")
    ).all()
    return Counter(rows)


def run_once(session: Session, outbox: Outbox, *, today: date = TODAY) -> MonitorReport:
    now = datetime.combine(today, NOW.timetz())
    report = scan(session, today=today, now=now, policy=POLICY)
    apply(session, report, mailer=outbox.mailer)
    return report


class TestScan:
    def test_requests_are_classified_by_their_deadlines(self, session: Session) -> None:
        """Overdue, reminders at the 10- and 3-day margins, extension decisions, receipt
        confirmations and failed runs are found; closed, extended or distant ones are not."""
        ids = seed(session)
        report = scan(session, today=TODAY, now=NOW, policy=POLICY)
        assert kinds(report) == {
            (ids["overdue"], DueKind.OVERDUE),
            (ids["in_2"], DueKind.REMINDER),
            (ids["in_5"], DueKind.REMINDER),
            (ids["in_6"], DueKind.REMINDER),
            (ids["in_10"], DueKind.REMINDER),
            (ids["in_2"], DueKind.EXTENSION_DECISION),
            (ids["in_5"], DueKind.EXTENSION_DECISION),
            (ids["in_6"], DueKind.EXTENSION_DECISION),
            (ids["ccpa_unconfirmed"], DueKind.ACKNOWLEDGE),
            (ids["failed"], DueKind.REQUEUE),
            (ids["failed_often"], DueKind.NEEDS_STAFF),
        }
        purposes = {i.request_id: i.purpose for i in report.items if i.kind is DueKind.REMINDER}
        assert purposes[ids["in_2"]] == "reminder-3"
        assert purposes[ids["in_5"]] == "reminder-10"
        assert report.requeue == [(ids["failed"], "failed")]
        assert report.staff_controllers == {"lunexxa"}

    def test_rows_come_soonest_first_and_hold_no_identity(self, session: Session) -> None:
        """The table is ordered by date and shows ids, kinds and dates — never an address."""
        seed(session)
        report = scan(session, today=TODAY, now=NOW, policy=POLICY)
        dates = [row["date"] for row in report.table_rows()]
        assert dates == sorted(dates)
        assert SUBJECT_EMAIL not in str(report.to_dict())

    def test_report_survives_a_round_trip_through_json_shape(self, session: Session) -> None:
        """A flow returns the report as a dict; the CLI rebuilds the same rows from it."""
        seed(session)
        report = scan(session, today=TODAY, now=NOW, policy=POLICY)
        again = MonitorReport.from_dict(report.to_dict())
        assert again.table_rows() == report.table_rows()
        assert again.totals == report.totals

    def test_runs_that_stopped_or_never_started_are_requeued(self, session: Session) -> None:
        """An in-progress request without progress for longer than stuck_after, and a request
        an official channel stored but no run picked up, get another run; one still working,
        one waiting on a processor's job, and one staff entered but did not start, do not."""
        old = NOW - timedelta(hours=3)
        stuck = make_request(session, **due(20, status=RequestStatus.IN_PROGRESS, updated_at=old))
        busy = make_request(session, **due(20, status=RequestStatus.IN_PROGRESS, updated_at=old))
        session.add(
            Step(
                request_id=busy.id,
                recipient="klaviyo",
                connector="klaviyo",
                action="erase",
                status=StepStatus.DONE,
                started_at=NOW - timedelta(minutes=5),
            )
        )
        waiting = make_request(session, **due(20, status=RequestStatus.IN_PROGRESS, updated_at=old))
        session.add(
            Step(
                request_id=waiting.id,
                recipient="shopify",
                connector="shopify",
                action="erase",
                status=StepStatus.PENDING,
                external_ref="job-1",
                started_at=old,
            )
        )
        unstarted = make_request(session, **due(21, channel=Channel.CONTACT_FORM, updated_at=old))
        make_request(session, **due(22, channel=Channel.STAFF, updated_at=old))
        make_request(session, **due(23, channel=Channel.CONTACT_FORM))  # just arrived
        unsure = {"classification": {"kind": "erasure", "confident": False}}
        make_request(
            session, **due(24, channel=Channel.CONTACT_FORM, updated_at=old, details=unsure)
        )  # its kind was guessed from free text: staff confirm it first
        sure = {"classification": {"kind": "access", "confident": True}}
        classified = make_request(
            session, **due(25, channel=Channel.CONTACT_FORM, updated_at=old, details=sure)
        )
        confirmed = make_request(
            session,
            **due(
                26, status=RequestStatus.VERIFYING, channel=Channel.CONTACT_FORM, verified_at=old
            ),
        )  # the subject clicked the link, but the run that should follow died
        make_request(
            session, **due(27, status=RequestStatus.VERIFYING, channel=Channel.CONTACT_FORM)
        )  # still waiting for the subject
        session.commit()
        report = scan(session, today=TODAY, now=NOW, policy=POLICY)
        assert report.requeue == [
            (stuck.id, "stuck"),
            (unstarted.id, "unstarted"),
            (classified.id, "unstarted"),
            (confirmed.id, "verified, not started"),
        ]
        assert [j.request_id for j in report.pending_jobs] == [waiting.id]

    def test_a_job_still_inside_its_runs_own_wait_is_left_to_that_run(
        self, session: Session
    ) -> None:
        """Pending jobs younger than poll_after are being polled by their own run."""
        request = make_request(session, **due(20, status=RequestStatus.IN_PROGRESS))
        session.add(
            Step(
                request_id=request.id,
                recipient="klaviyo",
                connector="klaviyo",
                action="erase",
                status=StepStatus.PENDING,
                external_ref="job-2",
                started_at=NOW,
            )
        )
        session.commit()
        assert scan(session, today=TODAY, now=NOW, policy=POLICY).pending_jobs == []

    def test_scan_counts_everything_but_reads_only_the_rows_shown(self, session: Session) -> None:
        """5,000 overdue requests are counted by the database; only the max_rows soonest due
        are read, in pages of at most batch_size, plus one row of sums for the controller."""
        rows = [
            {
                "id": new_id(),
                "controller": "lunexxa",
                "kind": "ACCESS",
                "channel": "STAFF",
                "language": "en",
                "status": "RECEIVED",
                "regime": "GDPR",
                "idempotency_key": new_id(),
                "email": SUBJECT_EMAIL,
                "received_at": NOW - timedelta(days=40),
                "received_on": TODAY - timedelta(days=40),
                "due_date": TODAY - timedelta(days=1 + i % 7),
                "effective_due_date": TODAY - timedelta(days=1 + i % 7),
                "extended": False,
                "clock_stops": [],
                "details": {},
                "created_at": NOW,
                "updated_at": NOW,
            }
            for i in range(5000)
        ]
        session.execute(insert(Request), rows)
        session.commit()
        policy = MonitorPolicy(batch_size=40, max_rows=100)
        report = scan(session, today=TODAY, now=NOW, policy=policy)
        assert report.rows_scanned == 1 + 100
        assert report.largest_batch == 40
        assert report.batches == 1 + 3  # the sums, then pages of 40, 40 and 20 rows
        assert report.totals[DueKind.OVERDUE] == 5000
        assert report.new[DueKind.OVERDUE] == 5000
        assert report.staff_new == Counter({("lunexxa", f"escalation:{TODAY.isoformat()}"): 5000})
        soonest = sorted((row["effective_due_date"], row["id"]) for row in rows)[:100]
        assert [(item.on, item.request_id) for item in report.items] == soonest
        assert report.truncated == 4900


class TestApply:
    def test_one_run_sends_exactly_the_expected_mails(
        self, session: Session, outbox: Outbox
    ) -> None:
        """One digest to the controller's privacy address lists every new staff item; the CCPA
        subject gets one receipt confirmation (11 CCR §7021(a))."""
        ids = seed(session)
        report = run_once(session, outbox)
        assert report.actions == Counter(digests_sent=1, staff_notices=9, acknowledgements_sent=1)
        assert staff_notices(session) == Counter(
            {
                f"escalation:{TODAY.isoformat()}": 1,
                "reminder-3": 1,
                "reminder-10": 3,
                "extension-decision": 3,
                f"attention:{TODAY.isoformat()}": 1,
            }
        )
        (digest,) = outbox.to(LUNEXXA_STAFF)
        text = body(digest)
        for role in ("overdue", "in_2", "in_5", "in_6", "in_10", "failed_often"):
            assert ids[role] in text
        for role in ("in_11", "in_30", "extended", "closed_overdue", "failed"):
            assert ids[role] not in text
        assert "@" not in text.replace(LUNEXXA_STAFF, "")
        (confirmation,) = outbox.to(SUBJECT_EMAIL)
        assert ids["ccpa_unconfirmed"] in str(confirmation["Subject"])
        confirmed = session.get(Request, ids["ccpa_unconfirmed"])
        assert confirmed is not None
        assert confirmed.acknowledged_at is not None
        assert len(outbox.messages()) == 2

    def test_second_run_the_same_day_sends_nothing_twice(
        self, session: Session, outbox: Outbox
    ) -> None:
        """Notices are unique per (request, recipient, purpose): a re-run finds all sent."""
        seed(session)
        run_once(session, outbox)
        notices = session.exec(select(func.count()).select_from(Notice)).one()
        again = run_once(session, outbox)
        assert again.actions == Counter()
        assert sum(again.new[k] for k in DueKind if k is not DueKind.REQUEUE) == 0
        assert session.exec(select(func.count()).select_from(Notice)).one() == notices
        assert len(outbox.messages()) == 2

    def test_overdue_escalates_daily_but_a_margin_reminds_once(
        self, session: Session, outbox: Outbox
    ) -> None:
        """Tomorrow the overdue request is escalated again; a request crossing from the
        10-day into the 3-day margin is reminded once more; nothing else repeats."""
        ids = seed(session)
        run_once(session, outbox)
        tomorrow = TODAY + timedelta(days=1)
        report = run_once(session, outbox, today=tomorrow)
        new = {(i.request_id, i.purpose) for i in report.items if not i.done and i.purpose}
        assert new == {
            (ids["overdue"], f"escalation:{tomorrow.isoformat()}"),
            (ids["in_11"], "reminder-10"),
            (ids["failed_often"], f"attention:{tomorrow.isoformat()}"),
        }
        assert report.actions["staff_notices"] == 3
        assert len(outbox.to(LUNEXXA_STAFF)) == 2

    def test_a_failed_digest_is_recorded_and_sent_by_the_next_run(
        self, session: Session, outbox: Outbox
    ) -> None:
        """SMTP down: the notices stay unsent (with a reason free of addresses) and the next
        run sends them all."""

        class Down:
            def send(self, message: EmailMessage) -> str:
                raise smtplib.SMTPServerDisconnected("connection to mx.example lost")

        seed(session)
        report = scan(session, today=TODAY, now=NOW, policy=POLICY)
        apply(session, report, mailer=Down())
        assert report.actions["digests_failed"] == 1
        assert staff_notices(session) == Counter()
        failed = session.exec(select(Notice).where(Notice.status == "failed")).all()
        assert failed
        assert all(SUBJECT_EMAIL not in (n.error or "") for n in failed)
        report = run_once(session, outbox)
        assert report.actions["staff_notices"] == 9
        assert sum(staff_notices(session).values()) == 9

    def test_staff_address_can_be_configured(self, session: Session, outbox: Outbox) -> None:
        """A policy's staff_email replaces the register's privacy address."""
        make_request(session, **due(-1))
        session.commit()
        policy = MonitorPolicy(staff_email="dpo@lunexxa.example")
        apply(session, scan(session, today=TODAY, now=NOW, policy=policy), mailer=outbox.mailer)
        assert len(outbox.to("dpo@lunexxa.example")) == 1
        assert outbox.to(LUNEXXA_STAFF) == []

    def test_digest_is_audited_with_counts_only(self, session: Session, outbox: Outbox) -> None:
        """The audit trail records that staff were told, how often per purpose, and nothing
        else; the chain stays intact."""
        seed(session)
        run_once(session, outbox)
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "staff_digest_sent")
        ).one()
        assert event.data["notices"] == 9
        assert event.data["controller"] == "lunexxa"
        assert verify_chain(session).ok


class TestDigestText:
    def test_long_sections_are_cut_with_a_count(self) -> None:
        """A digest shows at most the lines given and says how many more there are."""
        section = DigestSection(title="Overdue", total=250, lines=("- a", "- b"))
        subject, text = digest_text(controller="lunexxa", today=TODAY, sections=[section])
        assert "250" in subject
        assert "… and 248 more" in text

    def test_policy_refuses_nonsense(self) -> None:
        """Negative margins or empty batches are configuration errors."""
        with pytest.raises(InputError):
            MonitorPolicy(reminder_margins=(-1,))
        with pytest.raises(InputError):
            MonitorPolicy(batch_size=0)


class TestRejections:
    def test_expired_challenge_leads_to_one_rejection_mail(
        self, session: Session, outbox: Outbox
    ) -> None:
        """Art. 12(4): the requester whose link expired is told why, once."""
        request = make_request(session, **due(20))
        identity.issue_challenge(
            session, request=request, tz="Europe/Vienna", now=NOW - timedelta(days=4)
        )
        session.commit()
        rejected = identity.expire_challenges(session, now=NOW, tz="Europe/Vienna")
        session.commit()
        assert rejected == [request.id]
        assert tell_rejected(session, request_ids=rejected, mailer=outbox.mailer) == 1
        assert tell_rejected(session, request_ids=rejected, mailer=outbox.mailer) == 1
        (mail,) = outbox.to(SUBJECT_EMAIL)
        assert "expired" in body(mail)


def close(session: Session, request: Request, *, closed_at: datetime) -> None:
    lifecycle.transition(session, request=request, target=RequestStatus.IN_PROGRESS, actor="t")
    lifecycle.transition(session, request=request, target=RequestStatus.COMPLETED, actor="t")
    request.closed_at = closed_at
    session.add(request)


class TestPurge:
    def test_only_closed_requests_past_retention_are_pseudonymised(self, session: Session) -> None:
        """Art. 5(1)(e): identities and free text go; ids, dates, statuses and the verifiable
        audit trail stay (Art. 5(2))."""
        retention = POLICY.evidence_retention_days
        old = make_request(
            session,
            name="Maria Muster",
            phone="+43 660 1234567",
            customer_id="cust-1",
            details={"changes": {"city": "Wien"}},
            verified_by="in person",
        )
        close(session, old, closed_at=NOW - timedelta(days=retention + 1))
        recent = make_request(session, name="Jonas")
        close(session, recent, closed_at=NOW - timedelta(days=10))
        open_old = make_request(session, name="Open", received_at=NOW - timedelta(days=2000))
        step = Step(
            request_id=old.id,
            recipient="shopify",
            connector="shopify",
            action="export",
            result={"records": [{"email": SUBJECT_EMAIL}]},
        )
        task = ManualTask(
            request_id=old.id,
            recipient="dhl",
            instructions="erase",
            due_date=TODAY,
            note="confirmed by Maria on the phone",
        )
        session.add_all([step, task])
        session.commit()
        trail = len(events_for(session, old.id))

        assert purge_closed(session, now=NOW, retention_days=retention) == 1
        session.commit()
        session.expire_all()
        purged = session.get(Request, old.id)
        assert purged is not None
        assert (purged.email, purged.name, purged.phone, purged.customer_id) == (
            PURGED,
            None,
            None,
            None,
        )
        assert purged.verified_by == PURGED
        assert SUBJECT_EMAIL not in str(purged.model_dump())
        assert "Wien" not in str(purged.details)
        assert purged.status is RequestStatus.COMPLETED
        assert purged.received_on == old.received_on
        assert session.get(Step, step.id).result == {}  # type: ignore[union-attr]
        assert session.get(ManualTask, task.id).note == PURGED  # type: ignore[union-attr]
        assert len(events_for(session, old.id)) == trail
        for kept in (recent, open_old):
            stored = session.get(Request, kept.id)
            assert stored is not None
            assert stored.email == SUBJECT_EMAIL
        assert verify_chain(session).ok
        assert purge_closed(session, now=NOW, retention_days=retention) == 0

    def test_expired_packages_leave_the_disk(self, session: Session, tmp_path: Path) -> None:
        """A package whose link expired is deleted and its row marked; a live one stays, and
        a path outside the exports folder is never touched."""
        folder = tmp_path / "exports"
        folder.mkdir()
        outside = tmp_path / "elsewhere.zip"
        request = make_request(session)
        files = {}
        for name, expires, path in (
            ("expired", NOW - timedelta(days=1), folder / "a.zip"),
            ("live", NOW + timedelta(days=1), folder / "b.zip"),
            ("outside", NOW - timedelta(days=1), outside),
        ):
            path.write_bytes(b"zip")
            export = Export(
                request_id=request.id,
                token_hash=new_id(),
                path=str(path),
                sha256="0" * 64,
                expires_at=expires,
            )
            session.add(export)
            files[name] = (export.id, path)
        session.commit()
        assert purge_expired_exports(session, now=NOW, exports_dir=folder) == 1
        assert not files["expired"][1].exists()
        assert files["live"][1].exists()
        assert outside.exists()
        paths = dict(session.exec(select(Export.id, Export.path)).all())
        assert paths[files["expired"][0]] == EXPORT_DELETED
        assert paths[files["outside"][0]] == str(outside)
        assert purge_expired_exports(session, now=NOW, exports_dir=folder) == 0


def test_requeues_are_counted_once_a_day(session: Session) -> None:
    """A failed request re-queued today is shown as done until tomorrow; after max_requeues
    runs it goes to staff instead."""
    request = make_request(session, **due(20, status=RequestStatus.FAILED))
    session.commit()
    record_requeue(session, request_id=request.id, reason="failed", now=NOW)
    session.commit()
    report = scan(session, today=TODAY, now=NOW, policy=POLICY)
    assert report.requeue == []
    assert [i.done for i in report.items if i.kind is DueKind.REQUEUE] == [True]
    append_event(
        session,
        action="run_requeued",
        actor="monitor",
        request_id=request.id,
        data={"reason": "failed"},
    )
    append_event(
        session,
        action="run_requeued",
        actor="monitor",
        request_id=request.id,
        data={"reason": "failed"},
    )
    session.commit()
    report = scan(
        session, today=TODAY + timedelta(days=1), now=NOW + timedelta(days=1), policy=POLICY
    )
    assert [i.kind for i in report.items] == [DueKind.NEEDS_STAFF]
    assert (
        session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "run_requeued")
        ).one()
        == 3
    )
