"""Telling people: the messages the engine sends on a request's behalf, and proof they were sent.

Three kinds of message leave the engine: answers and notices to the data subject (Art. 12(3)
extension, 12(4) refusal, 18(3) lifting a restriction, the answers to Art. 15-21 requests, the
CCPA receipt confirmation), verification challenges (:mod:`dsar.identity`), and Art. 19 notices
to recipients without an API. Each is rendered from a plain-text Jinja template in
``dsar/templates/mail/<purpose>.<language>.txt.j2`` (first line: the subject; then a blank
line; then the body) and recorded as a :class:`~dsar.models.Notice` before and after sending,
so a re-run never notifies twice and the controller can show when it told whom (Art. 5(2)).

Transport is a :class:`Mailer`: :class:`SmtpMailer` for ``DSAR_SMTP_URL``, :class:`FileMailer`
writing ``.eml`` files to the outbox otherwise. Recipients that take notices by webhook get a
JSON body signed with :func:`sign_payload`; :mod:`connectors.webhook` posts it, and the intake
service checks incoming contact-form posts with :func:`verify_signature` — the same scheme.

Addresses appear in the messages themselves (an Art. 19 notice must identify the subject so the
recipient can act), never in logs, audit events or error messages.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import smtplib
import ssl
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import unquote, urlsplit

import jinja2
import yaml
from sqlmodel import Session, select

from dsar.audit import append_event
from dsar.errors import DsarError, InputError
from dsar.logging import get_logger, redact_text
from dsar.models import Notice, utcnow
from dsar.settings import Settings, get_settings

log = get_logger("dsar.notify")

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "mail"
DEFAULT_LANGUAGE = "en"

#: Every message the engine can render; each has at least an ``en`` and a ``de`` template.
TEMPLATES: tuple[str, ...] = (
    "acknowledgement",
    "answer_access",
    "answer_no_data",
    "answer_erasure",
    "answer_objection",
    "answer_portability",
    "answer_rectification",
    "answer_restriction",
    "art19",
    "extension",
    "lift_restriction",
    "rejection",
    "verification",
)

_SUBJECT = ("controller", "reference")
_ANSWER = (*_SUBJECT, "notified_recipients")

#: The variables each template needs (``controller`` is the register's Controller; lists of
#: recipients and items are dicts or objects with the named attributes). ``regime`` is optional.
VARIABLES: dict[str, tuple[str, ...]] = {
    "acknowledgement": (*_SUBJECT, "kind", "received_on", "respond_by"),
    "answer_access": (*_ANSWER, "download_url", "download_expires", "recipients"),  # name, country
    "answer_erasure": (*_ANSWER, "erased", "kept"),
    "answer_no_data": (*_SUBJECT, "kind"),  # recipient, categories (+ ground, until)
    "answer_objection": (*_ANSWER, "stopped"),  # recipient names
    "answer_portability": (*_ANSWER, "download_url", "download_expires", "recipients"),
    "answer_rectification": (*_ANSWER, "fields", "recipients"),  # field and recipient names
    "answer_restriction": (*_ANSWER, "restricted"),  # recipient, categories
    "art19": (
        *_SUBJECT,
        "kind",
        "action",  # one of ART19_ACTIONS
        "categories",
        "recipient_name",
        "subject_email",
        "changes",  # field -> corrected value; empty unless rectification
    ),
    "extension": (*_SUBJECT, "kind", "received_on", "new_due_date", "reasons"),
    "lift_restriction": (*_SUBJECT, "categories", "lift_on", "reasons"),
    "rejection": (*_SUBJECT, "kind", "received_on", "reasons"),
    "verification": (*_SUBJECT, "kind", "verify_url", "code", "expires_at"),
}

#: What an Art. 19 notice can ask a recipient to do (labels in ``labels.yaml``).
ART19_ACTIONS: tuple[str, ...] = ("rectify", "erase", "restrict", "stop_marketing")

#: The signature header of webhook notices and contact-form posts (processor-apis.md).
SIGNATURE_HEADER = "X-DSAR-Signature"
#: Seconds a signed timestamp may lie in the future (clock skew between two hosts).
FUTURE_SKEW = 30


class NotificationError(DsarError):
    """A message could not be rendered or delivered; the message names ids, never addresses."""


class SignatureError(DsarError):
    """A webhook signature is missing, malformed, stale or wrong; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook signature rejected: {reason}")


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][a-z0-9]{2,8})?", re.IGNORECASE)


@lru_cache(maxsize=1)
def _labels() -> dict[str, dict[str, Any]]:
    """The shared words of the templates per language (``labels.yaml`` beside them)."""
    loaded = yaml.safe_load((TEMPLATE_DIR / "labels.yaml").read_text(encoding="utf-8"))
    return dict(loaded)


def _words(ctx: jinja2.runtime.Context, table: str) -> Any:
    labels = _labels()
    return labels.get(str(ctx.get("lang")), labels[DEFAULT_LANGUAGE])[table]


@jinja2.pass_context
def _label(ctx: jinja2.runtime.Context, key: object, table: str) -> str:
    """``{{ kind | label("kind") }}``: a word from ``labels.yaml``; an unknown key is an error."""
    words = _words(ctx, table)
    if str(key) not in words:
        raise NotificationError(f"no {table!r} label for {key!r} in the mail templates")
    return str(words[str(key)])


@jinja2.pass_context
def _format_date(ctx: jinja2.runtime.Context, value: date | datetime) -> str:
    month = _words(ctx, "months")[value.month - 1]
    if ctx.get("lang") == "de":
        return f"{value.day}. {month} {value.year}"
    return f"{value.day} {month} {value.year}"


@jinja2.pass_context
def _format_datetime(ctx: jinja2.runtime.Context, value: datetime) -> str:
    day = _format_date(ctx, value)
    zone = value.tzname() or "UTC"
    if ctx.get("lang") == "de":
        return f"{day}, {value:%H:%M} Uhr ({zone})"
    return f"{day}, {value:%H:%M} ({zone})"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=False,  # noqa: S701 - plain-text mail, never HTML: escaping would corrupt it
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date"] = _format_date
    env.filters["datetime"] = _format_datetime
    env.filters["label"] = _label
    return env


def _candidates(template: str, language: str) -> list[str]:
    names: list[str] = []
    if _LANGUAGE.fullmatch(language or ""):
        lang = language.lower().replace("_", "-")
        names += [f"{template}.{lang}.txt.j2", f"{template}.{lang.split('-')[0]}.txt.j2"]
    names.append(f"{template}.{DEFAULT_LANGUAGE}.txt.j2")
    return list(dict.fromkeys(names))


def render(template: str, language: str, **context: Any) -> tuple[str, str]:
    """Render ``template`` in ``language`` (falling back to English); return (subject, body).

    Every variable a template uses must be given: a missing one raises
    :class:`NotificationError` rather than sending a letter with a hole in it (Art. 12(1):
    the information must be complete and intelligible). ``controller`` may be the register's
    :class:`~dsar.register.Controller` or an equivalent mapping. The one optional variable is
    ``regime``: ``rejection`` and ``extension`` cite US state law instead of the GDPR for
    ``ccpa``/``vcdpa``/``cpa``.
    """
    if template not in TEMPLATES:
        raise NotificationError(f"no mail template named {template!r}")
    try:
        chosen = _environment().select_template(_candidates(template, language))
        lang = (chosen.name or "").split(".")[1]
        text = chosen.render(**context, lang=lang)
    except jinja2.TemplateNotFound as exc:
        raise NotificationError(f"mail template {template!r} is not installed") from exc
    except jinja2.UndefinedError as exc:
        raise NotificationError(f"mail template {template!r}: {exc.message}") from exc
    subject, _, body = text.partition("\n")
    subject = " ".join(subject.split())
    if not subject:
        raise NotificationError(f"mail template {template!r} rendered an empty subject")
    return subject, body.lstrip("\n")


def art19_webhook_payload(
    *,
    notice_id: str,
    reference: str,
    kind: str,
    action: str,
    categories: Sequence[str],
    subject_email: str,
    controller: str,
    changes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body of an Art. 19 notice sent by webhook; ``notice_id`` lets the receiver dedupe.

    Like the e-mail notice it identifies the subject, so the recipient can find the records.
    """
    return {
        "type": "dsar.art19",
        "id": notice_id,
        "reference": reference,
        "controller": controller,
        "kind": kind,
        "action": action,
        "categories": list(categories),
        "subject": {"email": subject_email},
        "changes": dict(changes or {}),
    }


# --------------------------------------------------------------------------------------------
# Transport
# --------------------------------------------------------------------------------------------


class Mailer(Protocol):
    """Something that delivers one e-mail and returns its Message-ID."""

    def send(self, message: EmailMessage) -> str: ...


def _ensure_message_id(message: EmailMessage) -> str:
    if message["Message-ID"] is None:
        domain = str(message["From"] or "").rpartition("@")[2].strip("> ") or "dsar.invalid"
        message["Message-ID"] = make_msgid(domain=domain)
    if message["Date"] is None:
        message["Date"] = format_datetime(utcnow())
    return str(message["Message-ID"])


class SmtpMailer:
    """Delivery through an SMTP server named by a URL.

    ``smtp://host:25`` (plain), ``smtp+starttls://host:587`` (upgraded with STARTTLS) or
    ``smtps://host:465`` (TLS from the start), with optional ``user:password@``. Certificates
    are verified. The URL is never shown: it may carry the password.
    """

    _PORTS: ClassVar[Mapping[str, int]] = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in self._PORTS or not parts.hostname:
            raise InputError(
                "DSAR_SMTP_URL must look like smtp://host:port, smtp+starttls://… or smtps://…"
            )
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or self._PORTS[parts.scheme]
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else ""
        self.timeout = timeout

    def __repr__(self) -> str:
        auth = "***@" if self._user else ""
        return f"SmtpMailer({self.scheme}://{auth}{self.host}:{self.port})"

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; SMTP and socket errors propagate for the caller to record."""
        message_id = _ensure_message_id(message)
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.scheme == "smtps":
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.scheme == "smtp+starttls":
                client.starttls(context=context)
            if self._user:
                client.login(self._user, self._password)
            client.send_message(message)
        return message_id


class FileMailer:
    """Writes each message as an ``.eml`` file into an outbox folder, for development and demos.

    File names come from the time and a random id, never from an address, so a directory
    listing shows no personal data.
    """

    def __init__(self, outbox_dir: Path) -> None:
        self.outbox_dir = Path(outbox_dir)

    def __repr__(self) -> str:
        return f"FileMailer({self.outbox_dir})"

    def send(self, message: EmailMessage) -> str:
        """Write ``message`` atomically (temporary file, then rename) and return its Message-ID."""
        message_id = _ensure_message_id(message)
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow():%Y%m%dT%H%M%S%f}-{secrets.token_hex(6)}"
        partial = self.outbox_dir / f".{name}.part"
        partial.write_bytes(message.as_bytes())
        os.replace(partial, self.outbox_dir / f"{name}.eml")
        return message_id


def mailer_from_settings(settings: Settings | None = None) -> Mailer:
    """SMTP when ``DSAR_SMTP_URL`` is set, else the outbox in the engine's home."""
    settings = settings or get_settings()
    if settings.smtp_url:
        return SmtpMailer(settings.smtp_url)
    return FileMailer(settings.outbox_dir)


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str,
    reference: str,
    message_id: str | None = None,
    reply_to: str | None = None,
) -> EmailMessage:
    """A plain-text message marked as automatic (RFC 3834) and carrying the request reference."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Auto-Submitted"] = "auto-generated"
    message["X-DSAR-Reference"] = reference
    if message_id:
        message["Message-ID"] = message_id
    if reply_to:
        message["Reply-To"] = reply_to
    # Quoted-printable keeps German (and any) text 7-bit clean for servers without 8BITMIME.
    message.set_content(body, cte="quoted-printable")
    return message


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


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
    if notice is not None and notice.status == "sent":
        return notice
    if notice is None:
        notice = Notice(
            request_id=request_id, recipient=recipient, purpose=purpose, channel=channel
        )
    notice.channel = channel
    notice.status = "pending"
    notice.error = None
    session.add(notice)
    session.flush()
    return notice


def mark_sent(
    session: Session, *, notice: Notice, message_id: str, actor: str = "notify"
) -> Notice:
    """Record delivery evidence and append ``notice_sent`` (recipient key and purpose only)."""
    notice.status = "sent"
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
    notice.status = "failed"
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
    if notice.status == "sent":
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


# --------------------------------------------------------------------------------------------
# Webhook signatures (the Stripe scheme, see processor-apis.md)
# --------------------------------------------------------------------------------------------


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-DSAR-Signature`` value: ``t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>``."""
    if not secret:
        raise SignatureError("no signing secret is configured")
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def _parse_signature(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError("unparseable header")
        if key == "t":
            if timestamp is not None or not value.isdigit():
                raise SignatureError("unparseable header")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError("no timestamp")
    if not signatures:
        raise SignatureError("no v1 signature")
    return timestamp, signatures


def verify_signature(
    secret_or_secrets: str | Iterable[str],
    header: str | None,
    body: bytes,
    now: float | None = None,
    tolerance: int = 300,
) -> int:
    """Check a signed body; return its timestamp or raise :class:`SignatureError` with a reason.

    Several secrets (rotation: the new one and the old one) and several ``v1`` values are
    accepted; any secret matching any ``v1`` passes. Comparison is constant-time. A timestamp
    older than ``tolerance`` seconds is a replay; one more than 30 s ahead is refused too.
    """
    keys = [secret_or_secrets] if isinstance(secret_or_secrets, str) else list(secret_or_secrets)
    keys = [key for key in keys if key]
    if not keys:
        raise SignatureError("no signing secret is configured")
    if not header or not header.strip():
        raise SignatureError("missing header")
    timestamp, signatures = _parse_signature(header)
    current = time.time() if now is None else now
    if timestamp < current - tolerance:
        raise SignatureError("timestamp too old")
    if timestamp > current + FUTURE_SKEW:
        raise SignatureError("timestamp in the future")
    matched = False
    for key in keys:
        expected = _mac(key, timestamp, body).encode("ascii")
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("signature does not match")
    return timestamp
