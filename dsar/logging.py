"""Structured logging that never carries a data subject's identity.

The engine handles e-mail addresses, phone numbers, names and postal addresses all day; none of
them may reach a log line (GDPR Art. 5(1)(c) data minimisation, Art. 32 security). Redaction is
therefore a structlog processor that runs before rendering, on every event, recursively:

* values under a deny-listed key (``email``, ``phone``, ``name``, ``address``, ...) are replaced,
* e-mail addresses, phone numbers and IBAN/card-like numbers are masked inside any string,
  including exception messages and rendered tracebacks.

The same processor chain formats stdlib records (``ProcessorFormatter``), so loggers that are
not structlog's — Prefect's run loggers, uvicorn, httpx — go through the same redaction once
:func:`configure_logging` has run.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[redacted]"

#: Keys whose values are personal data whatever they look like.
DENY_KEYS: frozenset[str] = frozenset(
    {
        "email",
        "emails",
        "email_address",
        "e_mail",
        "phone",
        "phones",
        "phone_number",
        "mobile",
        "name",
        "names",
        "first_name",
        "last_name",
        "full_name",
        "fname",
        "lname",
        "address",
        "address1",
        "address2",
        "addresses",
        "street",
        "city",
        "zip",
        "postcode",
        "postal_code",
        "birth_date",
        "date_of_birth",
        "ip",
        "ip_address",
        "browser_ip",
        "iban",
        "card",
        "card_number",
        "token",
        "password",
        "secret",
        "api_key",
        "authorization",
        "subject",
        "identity",
        "identities",
        "message",
        "note",
    }
)

# Keys structlog itself owns: never redacted by key (their *content* is still scanned).
_STRUCTURAL_KEYS = frozenset({"event", "level", "timestamp", "logger", "exception", "exc_info"})

# Letters of any script: an address's local part and domain may be internationalised.
_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# IBAN: two letters, two check digits, 11-30 alphanumerics, optionally grouped by spaces.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b")
# Card-like: 13-19 digits, optionally grouped by spaces or dashes.
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# Phone: an optional +, then digits grouped by up to two separators (spaces, dots, dashes,
# slashes, parentheses); at least seven digits in all (see _mask_phone). A trailing full stop
# ends the number, it does not hide it.
_PHONE = re.compile(r"(?<![\w.])\+?\(?\d(?:[\s./()-]{0,2}\d){6,}(?![\w])")
_DIGIT = re.compile(r"\d")
# Dates and times look like phone numbers to the pattern above; leave them be.
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?$|^\d{1,2}[./]\d{1,2}[./]\d{2,4}$")


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if _DATE_LIKE.match(text.strip()) or len(_DIGIT.findall(text)) < 7:
        return text
    return REDACTED


_PERCENT_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")


def redact_text(text: str) -> str:
    """Mask e-mail addresses, IBANs, card-like numbers and phone numbers inside ``text``.

    Percent-encoded text (request URLs: ``email%40…``, ``phone%3A%2B43…``) is decoded first,
    so an identity cannot slip through in its URL form.
    """
    if _PERCENT_ENCODED.search(text):
        text = unquote(text)
    text = _EMAIL.sub(REDACTED, text)
    text = _IBAN.sub(REDACTED, text)
    text = _CARD.sub(REDACTED, text)
    return _PHONE.sub(_mask_phone, text)


def redact_value(value: Any, *, key: str | None = None) -> Any:
    """Return ``value`` with personal data masked; containers are walked recursively."""
    if key is not None and key.lower() in DENY_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact_text(str(value))


def redact(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """structlog processor: mask personal data in every key and value of the event."""
    for key in list(event.keys()):
        if key in _STRUCTURAL_KEYS:
            if isinstance(event[key], str):
                event[key] = redact_text(event[key])
            continue
        event[key] = redact_value(event[key], key=key)
    return event


def _redact_rendered_exception(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
    """Tracebacks are rendered to text after ``format_exc_info``: scan that text too."""
    for key in ("exception", "stack"):
        if isinstance(event.get(key), str):
            event[key] = redact_text(event[key])
    return event


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redact_rendered_exception,
        redact,
    ]


def _renderer(*, json: bool) -> Processor:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def configure_logging(
    *,
    level: str = "INFO",
    fmt: str = "auto",
    stream: Any = None,
    extra_loggers: tuple[str, ...] = (),
) -> None:
    """Route structlog and the stdlib through one redacting chain.

    ``fmt`` is ``json`` (JSON lines), ``console`` (pretty) or ``auto`` (pretty on a TTY, JSON
    otherwise). ``extra_loggers`` names stdlib loggers (e.g. ``prefect``) whose records must be
    rendered by the same chain — that is how Prefect's run loggers are redacted.
    """
    out = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(out, "isatty", lambda: False)())
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    handler = _EngineHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_shared_processors(),
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _redact_rendered_exception,
                redact,
                renderer,
            ],
        )
    )
    handler.addFilter(RedactingFilter())
    dsar_logger = logging.getLogger("dsar")
    dsar_logger.handlers[:] = [handler]
    dsar_logger.setLevel(level.upper())
    dsar_logger.propagate = False
    # httpx logs every request URL at INFO; query strings may carry identities.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in extra_loggers:
        other = logging.getLogger(name)
        other.handlers[:] = [h for h in other.handlers if not isinstance(h, _EngineHandler)]
        for existing in other.handlers:
            existing.addFilter(RedactingFilter())
        other.addHandler(handler)
        if other.level == logging.NOTSET or other.level > dsar_logger.level:
            other.setLevel(dsar_logger.level)
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def redact_handlers(*names: str) -> None:
    """Add the redacting filter to every handler the named stdlib loggers already have.

    Prefect attaches its own handlers (console, and the one that ships run logs to its API) to
    ``prefect.flow_runs`` and ``prefect.task_runs``; call this after Prefect has set up its
    logging so those records are masked before any of its handlers formats or sends them.
    """
    for name in names:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


class _EngineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` installs; marked so a reconfiguration replaces it."""


class RedactingFilter(logging.Filter):
    """A stdlib filter that masks personal data in a record before any handler formats it.

    Attach it to handlers the engine does not own (Prefect's API log handler, for instance), so
    their records are redacted even when they bypass structlog's formatter.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            return True  # a structlog event: the processor chain redacts it before rendering
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            record.msg = f"{record.msg} ({type(exc).__name__})"
        for key in set(vars(record)) - _LOG_RECORD_ATTRIBUTES:
            setattr(record, key, redact_value(getattr(record, key), key=key))
        return True


#: Attributes every LogRecord has; anything else on a record came in through ``extra=``.
_LOG_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


def get_logger(name: str = "dsar") -> structlog.stdlib.BoundLogger:
    """A logger under the ``dsar`` hierarchy (``dsar.flows``, ``dsar.intake.app``, ...)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(
        name if name.startswith("dsar") else f"dsar.{name}"
    )
    return logger
