"""What the engine says: the mail templates, rendered per language, and webhook notice bodies.

Each message is rendered from a plain-text Jinja template in
``dsar/templates/mail/<purpose>.<language>.txt.j2`` (first line: the subject; then a blank
line; then the body), with the shared words of ``labels.yaml``; a language without templates
falls back to English. A template missing a variable is an error, never a letter with a hole
in it (Art. 12(1)). An Art. 19 notice sent by webhook has the JSON body of
:func:`art19_webhook_payload` instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import yaml

from dsar.errors import DsarError
from dsar.settings import get_settings
from dsar.uslaw import is_us, law_of

TEMPLATE_DIR = Path(__file__).resolve().parent / "mail"
DEFAULT_LANGUAGE = "en"

#: Every message the engine can render; each has at least an ``en`` and a ``de`` template.
TEMPLATES: tuple[str, ...] = (
    "acknowledgement",
    "answer_access",
    "answer_limit-sensitive",
    "answer_opt-out",
    "appeal_decision",
    "appeal_extension",
    "answer_no_data",
    "answer_erasure",
    "answer_objection",
    "answer_portability",
    "answer_rectification",
    "answer_restriction",
    "art19",
    "extension",
    "lift_restriction",
    "refusal_us",
    "refusal",
    "rejection",
    "verification",
)

_SUBJECT = ("controller", "reference")
_ANSWER = (*_SUBJECT, "notified_recipients")

#: The variables each template needs (``controller`` is the register's Controller; lists of
#: recipients and items are dicts or objects with the named attributes). ``regime`` is optional.
VARIABLES: dict[str, tuple[str, ...]] = {
    "acknowledgement": (*_SUBJECT, "kind", "received_on", "respond_by"),
    # recipients: name, country, evidence (those that received the data); other_recipients:
    # name, country (the register's other recipients)
    "answer_access": (
        *_ANSWER,
        "download_url",
        "download_expires",
        "recipients",
        "other_recipients",
    ),
    "answer_erasure": (*_ANSWER, "erased", "kept"),
    "answer_no_data": (*_SUBJECT, "kind"),  # recipient, categories (+ ground, until)
    "answer_objection": (*_ANSWER, "stopped"),  # recipient names
    # US: the recipients at which selling, sharing and targeted advertising stopped
    "answer_opt-out": (*_SUBJECT, "stopped"),
    "answer_limit-sensitive": (*_SUBJECT, "stopped"),
    # US: an appeal's outcome; decision "granted" (new_reference: the request carried out
    # now) or "denied" (new_reference empty)
    "appeal_decision": (
        *_SUBJECT,
        "kind",
        "decision",
        "reasons",
        "appeal_received_on",
        "new_reference",
    ),
    "appeal_extension": (*_SUBJECT, "kind", "appeal_received_on", "new_due_date", "reasons"),
    "refusal_us": (*_SUBJECT, "kind", "received_on", "reasons"),
    "answer_portability": (
        *_ANSWER,
        "download_url",
        "download_expires",
        "recipients",
        "other_recipients",
    ),
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
    "refusal": (*_SUBJECT, "kind", "received_on", "ground", "reasons"),
    "rejection": (*_SUBJECT, "kind", "received_on", "reasons"),
    "verification": (*_SUBJECT, "kind", "verify_url", "code", "expires_at"),
}

#: What an Art. 19 notice can ask a recipient to do (labels in ``labels.yaml``).
ART19_ACTIONS: tuple[str, ...] = ("rectify", "erase", "restrict", "stop_marketing")


class NotificationError(DsarError):
    """A message could not be rendered or delivered; the message names ids, never addresses."""


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
    env.globals["us_law"] = _us_law
    env.globals["appeal_url"] = _appeal_url
    return env


def _us_law(regime: object = None) -> Any:
    """``{% set law = us_law(regime) %}``: the state law a US letter cites, or ``None``."""
    return law_of(str(regime)) if regime else None


def _appeal_url(reference: str) -> str:
    """The request page's appeal form for ``reference``."""
    base = get_settings().public_url.rstrip("/")
    return f"{base}/privacy-request/appeal?{urlencode({'reference': reference})}"


def _candidates(template: str, language: str, regime: object = None) -> list[str]:
    names: list[str] = []
    if regime is not None and is_us(str(regime)):
        # US consumers get the US wording (``<template>_us``) where it exists, in English when
        # it has no translation: better than GDPR terms in their language.
        names += _candidates(f"{template}_us", language)
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
    :class:`~dsar.register.model.Controller` or an equivalent mapping. The one optional variable is
    ``regime``: under a US regime (a state law, or a US business's own policy) the template's
    US wording ``<template>_us`` is used where it exists, citing state statutes, never the GDPR.
    """
    if template not in TEMPLATES:
        raise NotificationError(f"no mail template named {template!r}")
    try:
        names = _candidates(template, language, context.get("regime"))
        chosen = _environment().select_template(names)
        lang = (chosen.name or "").split(".")[-3]
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
