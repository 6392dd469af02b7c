"""Delivering an e-mail: building the message and handing it to a transport.

A :class:`Mailer` delivers one message and returns its Message-ID: :class:`SmtpMailer` for
``DSAR_SMTP_URL`` (plain, STARTTLS or TLS, certificates verified), :class:`FileMailer`
writing ``.eml`` files to the outbox otherwise (:func:`mailer_from_settings`). Messages are
plain text, marked as automatic (RFC 3834) and carry the request reference
(:func:`build_message`). Neither a mailer's repr nor a file name shows an address or a password.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import ClassVar, Protocol
from urllib.parse import unquote, urlsplit

from dsar.errors import InputError
from dsar.models import utcnow
from dsar.settings import Settings, get_settings


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
