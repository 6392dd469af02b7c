"""Telling people what a monitor pass found: one staff digest per controller, receipt
confirmations to subjects (11 CCR §7021(a)).

Each item sent is recorded as a :class:`~dsar.models.Notice` with purpose ``reminder-<days>``,
``escalation:<date>``, ``extension-decision``, ``attention:<date>`` or ``acknowledgement``; the
unique ``(request, recipient, purpose)`` makes a second pass on the same day send nothing twice.
Staff notices are claimed and marked sent by set-based ``INSERT … SELECT`` and ``UPDATE``
statements over the rules' index ranges (:mod:`dsar.monitor.rules`), so no due request passes
through Python on its way into a digest; only the lines a digest shows do.
"""

from __future__ import annotations

import smtplib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_
from sqlmodel import Session, col, select

from dsar.audit import append_event
from dsar.enums import NoticeStatus
from dsar.errors import InputError
from dsar.logging import get_logger
from dsar.models import Notice, Request, new_id, utcnow
from dsar.monitor.claims import (
    claim_notices,
    due_ids,
    settle_notices,
)
from dsar.monitor.report import MonitorReport
from dsar.monitor.rules import (
    ACTOR,
    OPEN_STATUSES,
    STAFF,
    SUBJECT,
    DueKind,
    MonitorPolicy,
    Rule,
    owes_acknowledgement,
    rules_for,
    staff_rules,
)
from dsar.notify import (
    Mailer,
    NotificationError,
    build_message,
    describe_error,
    render,
    send_notice,
)
from dsar.register import register_for
from dsar.settings import get_settings

log = get_logger("dsar.monitor.purge")


def apply(session: Session, report: MonitorReport, *, mailer: Mailer) -> Counter[str]:
    """Send what ``report`` found new; return counts (also added to ``report.actions``).

    Commits as it goes: each message's evidence is stored before and after it leaves, so a
    crash never loses the record of a sent message and a re-run never repeats one.
    """
    done: Counter[str] = Counter()
    rules = rules_for(report.today, report.now, report.policy)
    if report.totals[DueKind.ACKNOWLEDGE]:  # also records confirmations sent but not noted
        done.update(_acknowledge_all(session, report, mailer=mailer))
    for controller in sorted(report.staff_controllers):
        done.update(_digest(session, report, rules, controller=controller, mailer=mailer))
    report.actions.update(done)
    return done


def _acknowledge_all(session: Session, report: MonitorReport, *, mailer: Mailer) -> Counter[str]:
    """Confirm receipt to every subject still owed it (11 CCR §7021(a)), a page at a time."""
    counts: Counter[str] = Counter()
    last = ""
    while True:
        page = session.exec(
            select(col(Request.id))
            .where(
                col(Request.status).in_(OPEN_STATUSES),
                owes_acknowledgement(),
                col(Request.id) > last,
            )
            .order_by(col(Request.id))
            .limit(report.policy.batch_size)
        ).all()
        if not page:
            return counts
        for request_id in page:
            last = request_id
            request = session.get(Request, request_id)
            assert request is not None  # noqa: S101 - selected just above
            started = utcnow()
            notice = tell_subject(
                session,
                request,
                template="acknowledgement",
                mailer=mailer,
                respond_by=request.effective_due_date,
            )
            if notice is None:
                counts["acknowledgements_failed"] += 1
                continue
            request.acknowledged_at = notice.sent_at
            session.add(request)
            session.commit()
            fresh = notice.sent_at is not None and notice.sent_at >= started
            counts["acknowledgements_sent" if fresh else "acknowledgements_recorded"] += 1


def tell_subject(
    session: Session, request: Request, *, template: str, mailer: Mailer, **context: Any
) -> Notice | None:
    """Send ``template`` to the requester once (notice purpose = template name); ``None`` when
    it could not be sent — the failure is recorded on the notice and logged with the id only."""
    try:
        register = register_for(request.controller)
        subject, body = render(
            template,
            request.language,
            controller=register.controller,
            reference=request.id,
            kind=request.kind.value,
            received_on=request.received_on,
            regime=request.regime.value,
            **context,
        )
        return send_notice(
            session,
            request_id=request.id,
            recipient=SUBJECT,
            purpose=template,
            to=request.email,
            subject=subject,
            body=body,
            mailer=mailer,
            commit=True,
        )
    except (NotificationError, InputError) as exc:
        log.warning(
            "subject_notice_failed", request_id=request.id, purpose=template, error=str(exc)
        )
        return None


@dataclass(frozen=True)
class DigestSection:
    """One heading of a staff digest: how many new items, and the lines shown."""

    title: str
    total: int
    lines: tuple[str, ...]


def _digest(
    session: Session,
    report: MonitorReport,
    rules: Sequence[Rule],
    *,
    controller: str,
    mailer: Mailer,
) -> Counter[str]:
    """Claim this controller's new staff notices, send them as one mail, mark them sent."""
    try:
        address = report.policy.staff_email or register_for(controller).controller.privacy_email
    except InputError:
        log.warning("digest_without_register", controller=controller)
        return Counter(digests_failed=1)
    sender = get_settings().mail_from
    message_id = f"<digest.{new_id()}@{sender.rpartition('@')[2] or 'dsar.invalid'}>"
    news = [r for r in staff_rules(rules) if report.staff_new[controller, str(r.purpose)]]
    claimed = {
        rule.purpose: claim_notices(session, rule, controller=controller, message_id=message_id)
        for rule in news
    }
    total = sum(claimed.values())
    if not total:
        return Counter()
    session.commit()
    sections = [
        DigestSection(
            title=_title(rule, report.policy),
            total=claimed[rule.purpose],
            lines=_lines(session, rule, report, controller=controller, message_id=message_id),
        )
        for rule in news
        if claimed[rule.purpose]
    ]
    subject, body = digest_text(controller=controller, today=report.today, sections=sections)
    try:
        message = build_message(
            sender=sender,
            to=address,
            subject=subject,
            body=body,
            reference=f"digest:{controller}:{report.today.isoformat()}",
            message_id=message_id,
        )
        mailer.send(message)
    except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: unusable address
        settle_notices(
            session,
            news,
            controller,
            message_id,
            status=NoticeStatus.FAILED,
            error=describe_error(exc),
        )
        session.commit()
        log.warning("digest_failed", controller=controller, notices=total)
        return Counter(digests_failed=1)
    settle_notices(session, news, controller, message_id, status=NoticeStatus.SENT, error=None)
    append_event(
        session,
        action="staff_digest_sent",
        actor=ACTOR,
        data={
            "controller": controller,
            "notices": total,
            "purposes": {str(k): v for k, v in claimed.items() if v},
        },
    )
    session.commit()
    log.info("digest_sent", controller=controller, notices=total)
    return Counter(digests_sent=1, staff_notices=total)


def _lines(
    session: Session, rule: Rule, report: MonitorReport, *, controller: str, message_id: str
) -> tuple[str, ...]:
    rows = session.exec(
        select(
            col(Request.id), col(Request.kind), col(Request.status), col(Request.effective_due_date)
        )
        .join(
            Notice,
            and_(
                col(Notice.request_id) == col(Request.id),
                col(Notice.recipient) == STAFF,
                col(Notice.purpose) == rule.purpose,
            ),
        )
        .where(
            col(Notice.message_id) == message_id,
            col(Request.id).in_(due_ids(rule, controller)),  # the rule's index range
        )
        .order_by(col(Request.effective_due_date), col(Request.id))
        .limit(report.policy.digest_max_lines)
    ).all()
    return tuple(
        f"- {request_id}  {kind.value:<13} {status.value:<15} due {due.isoformat()} "
        f"({days_text(due, report.today)})"
        for request_id, kind, status, due in rows
    )


def _title(rule: Rule, policy: MonitorPolicy) -> str:
    if rule.kind is DueKind.OVERDUE:
        return "Overdue: the deadline has passed (listed again every day until answered)"
    if rule.kind is DueKind.REMINDER:
        return f"Due {rule.detail}"
    if rule.kind is DueKind.EXTENSION_DECISION:
        return (
            "Decide on an extension: the subject must be told, with reasons, before the first "
            "period ends (Art. 12(3) GDPR; 11 CCR §7021(b))"
        )
    return f"Needs staff: not finished after {policy.max_requeues} automatic re-runs"


def days_text(day: date, today: date) -> str:
    """``today``, ``in 3 days``, ``2 days overdue``: how a date reads from ``today``."""
    days = (day - today).days
    if days == 0:
        return "today"
    if days > 0:
        return f"in {days} day{'s' if days != 1 else ''}"
    return f"{-days} day{'s' if days != -1 else ''} overdue"


def digest_text(
    *, controller: str, today: date, sections: Sequence[DigestSection]
) -> tuple[str, str]:
    """Subject and body of a staff digest: request ids, kinds, statuses and dates only.

    Staff look requests up with ``dsar request show ID``; the digest itself holds no personal
    data, so it may go to a shared mailbox.
    """
    total = sum(section.total for section in sections)
    subject = f"[dsar] {controller}: {total} request item(s) need attention on {today.isoformat()}"
    parts = [f"Deadline monitor for {controller}, {today.isoformat()}.", ""]
    for section in sections:
        parts += [f"{section.title} ({section.total})", *section.lines]
        if section.total > len(section.lines):
            parts.append(f"- … and {section.total - len(section.lines)} more (dsar monitor)")
        parts.append("")
    parts.append(
        "Details: dsar request show <id>. Reminders come once per margin; overdue requests "
        "are listed every day until answered."
    )
    return subject, "\n".join(parts) + "\n"
