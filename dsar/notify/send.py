"""Telling people: the messages the engine sends on a request's behalf, and proof they were sent.

Three kinds of message leave the engine: answers and notices to the data subject (Art. 12(3)
extension, 12(4) refusal, 18(3) lifting a restriction, the answers to Art. 15-21 requests, the
CCPA receipt confirmation), verification challenges (:mod:`dsar.identity`), and Art. 19 notices
to recipients without an API. Each is rendered from a plain-text Jinja template
(:mod:`dsar.notify.templates`) and recorded here as a :class:`~dsar.models.Notice` before and
after sending, so a re-run never notifies twice and the controller can show when it told whom
(Art. 5(2)).

Transport is a :class:`Mailer` (:mod:`dsar.notify.transport`): :class:`SmtpMailer` for
``DSAR_SMTP_URL``, :class:`FileMailer` writing ``.eml`` files to the outbox otherwise.
Recipients that take notices by webhook get a JSON body signed with :func:`sign_payload`;
:mod:`connectors.webhook` posts it, and the intake service checks incoming contact-form posts
with :func:`verify_signature` — the same scheme (:mod:`dsar.notify.signatures`). This module
is where callers import all of it from.

Addresses appear in the messages themselves (an Art. 19 notice must identify the subject so the
recipient can act), never in logs, audit events or error messages.
"""

from __future__ import annotations

import smtplib

from sqlmodel import Session, select

from dsar.audit import append_event
from dsar.enums import NoticeStatus
from dsar.logging import get_logger, redact_text
from dsar.models import Notice, Request, utcnow
from dsar.notify.templates import (
    NotificationError,
)
from dsar.notify.transport import (
    Mailer,
    build_message,
)
from dsar.settings import get_settings

log = get_logger("dsar.notify.send")


def claim_notice(
    session: Session, *, request_id: str, recipient: str, purpose: str, channel: str
) -> Notice:
    """The notice row for (request, recipient, purpose), created ``pending`` unless already sent.

    A row found ``pending`` belongs to a run that died around the send: the message may have
    left. It is sent again — a duplicate is the lesser harm than a recipient never told (Art. 19)
    — with the same Message-ID, which lets mail systems drop the copy.
    """
    notice = session.exec(
        select(Notice).where(
            Notice.request_id == request_id,
            Notice.recipient == recipient,
            Notice.purpose == purpose,
        )
    ).first()
    if notice is not None and notice.status is NoticeStatus.SENT:
        return notice
    if notice is None:
        notice = Notice(
            request_id=request_id, recipient=recipient, purpose=purpose, channel=channel
        )
    notice.channel = channel
    notice.status = NoticeStatus.PENDING
    notice.error = None
    session.add(notice)
    session.flush()
    return notice


def mark_sent(
    session: Session, *, notice: Notice, message_id: str, actor: str = "notify"
) -> Notice:
    """Record delivery evidence and append ``notice_sent`` (recipient key and purpose only)."""
    notice.status = NoticeStatus.SENT
    notice.message_id = message_id[:300]
    notice.sent_at = utcnow()
    notice.error = None
    session.add(notice)
    append_event(
        session,
        action="notice_sent",
        actor=actor,
        request_id=notice.request_id,
        data={"recipient": notice.recipient, "purpose": notice.purpose, "channel": notice.channel},
        at=notice.sent_at,
    )
    log.info(
        "notice_sent",
        request_id=notice.request_id,
        recipient=notice.recipient,
        purpose=notice.purpose,
    )
    return notice


def mark_failed(session: Session, *, notice: Notice, error: str) -> Notice:
    """Record a failed delivery; ``error`` is scrubbed of addresses before it is stored."""
    notice.status = NoticeStatus.FAILED
    notice.error = redact_text(error)[:2000]
    session.add(notice)
    session.flush()
    log.warning(
        "notice_failed",
        request_id=notice.request_id,
        recipient=notice.recipient,
        purpose=notice.purpose,
        error=notice.error,
    )
    return notice


def describe_error(exc: BaseException) -> str:
    """A delivery error in words free of addresses (SMTP replies often quote the mailbox)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"SMTPRecipientsRefused: recipient refused (codes {', '.join(map(str, codes))})"
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = (
            exc.smtp_error.decode("utf-8", "replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return redact_text(f"{type(exc).__name__}: {exc.smtp_code} {reply}")
    return redact_text(f"{type(exc).__name__}: {exc}")


def send_notice(
    session: Session,
    *,
    request_id: str,
    recipient: str,
    purpose: str,
    to: str,
    subject: str,
    body: str,
    mailer: Mailer,
    channel: str = "email",
    sender: str | None = None,
    reply_to: str | None = None,
    commit: bool = False,
) -> Notice:
    """Send one message at most once per (request, recipient, purpose), recording before and after.

    ``recipient`` is a register key or ``"subject"``; ``to`` the address (used in the message
    only). A notice already ``sent`` is returned untouched and nothing is sent.

    Transactions: by default the caller owns them — this function only flushes, and the caller
    should commit its own work *before* calling so that nothing else is lost if delivery fails.
    With ``commit=True`` the session is committed after the ``pending`` record, after ``sent``
    and after ``failed``: the evidence then survives a crash mid-send, and a failure record is
    kept even though :class:`NotificationError` propagates. Flows pass ``commit=True``.
    """
    notice = claim_notice(
        session, request_id=request_id, recipient=recipient, purpose=purpose, channel=channel
    )
    if notice.status is NoticeStatus.SENT:
        return notice
    sender = sender or get_settings().mail_from
    domain = sender.rpartition("@")[2] or "dsar.invalid"
    try:
        message = build_message(
            sender=sender,
            to=to,
            subject=subject,
            body=body,
            reference=request_id,
            message_id=f"<notice.{notice.id}@{domain}>",
            reply_to=reply_to,
        )
    except (ValueError, TypeError) as exc:  # a header with a line break or an unusable address
        mark_failed(session, notice=notice, error=f"message not built ({type(exc).__name__})")
        if commit:
            session.commit()
        raise NotificationError(
            f"{purpose} notice for request {request_id}: the message could not be built"
        ) from exc
    if commit:
        session.commit()
    try:
        message_id = mailer.send(message)
    except (smtplib.SMTPException, OSError) as exc:
        mark_failed(session, notice=notice, error=describe_error(exc))
        if commit:
            session.commit()
        raise NotificationError(
            f"{purpose} notice to {recipient!r} for request {request_id} was not delivered "
            f"({notice.error})"
        ) from exc
    mark_sent(session, notice=notice, message_id=message_id)
    if commit:
        session.commit()
    return notice


def send_to_subject(
    session: Session, *, request: Request, purpose: str, subject: str, body: str
) -> Notice:
    """Send a rendered letter to the request's subject, once per ``purpose``, committing the
    record before and after delivery (:func:`send_notice` with ``commit=True``)."""
    from dsar.notify.transport import mailer_from_settings

    return send_notice(
        session,
        request_id=request.id,
        recipient="subject",
        purpose=purpose,
        to=request.email,
        subject=subject,
        body=body,
        mailer=mailer_from_settings(),
        commit=True,
    )
