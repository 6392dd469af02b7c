"""The request page a person fills in: words in English and German, and the form's CSRF token.

The page works without JavaScript and with a screen reader (labels on every field, errors
listed at the top and tied to their fields): Art. 12(1)-(2) asks the controller to make
exercising a right easy, in clear and plain language. The form carries a signed, expiring token
in a hidden field and the same token in a cookie; a post from another site has neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
LANGUAGES: tuple[str, ...] = ("en", "de")
DEFAULT_LANGUAGE = "en"

CSRF_COOKIE = "dsar_csrf"
CSRF_FIELD = "csrf_token"
#: How long a page may stay open before its form must be reloaded.
CSRF_TTL_SECONDS = 2 * 60 * 60

_KIND_ORDER = ("access", "rectification", "erasure", "restriction", "portability", "objection")

TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Privacy request",
        "intro": "Use this form to exercise your data-protection rights (GDPR Art. 15-21). "
        "We answer within the statutory period.",
        "kind_legend": "What would you like us to do?",
        "kinds": {
            "access": "Tell me which data you hold about me and send me a copy (Art. 15)",
            "rectification": "Correct wrong data about me (Art. 16)",
            "erasure": "Erase my data (Art. 17)",
            "restriction": "Restrict the processing of my data (Art. 18)",
            "portability": "Send my data in a machine-readable format (Art. 20)",
            "objection": "Stop processing my data, e.g. for marketing (Art. 21)",
            "": "I am not sure - I describe it in the message",
        },
        "email": "E-mail address",
        "email_hint": "We send a confirmation link to this address. Please use the address "
        "you used with us.",
        "name": "Your name",
        "message": "Message (optional when you chose above)",
        "order_number": "Order number (optional)",
        "controller": "Shop",
        "submit": "Send request",
        "errors_title": "Please check the following:",
        "field_errors": {
            "email": "Please enter a valid e-mail address.",
            "name": "Please enter your name.",
            "kind": "Please choose what you would like us to do, or describe it in the message.",
            "message": "The message is too long (at most 5,000 characters).",
            "order_number": "The order number is too long (at most 64 characters).",
            "controller": "Please choose the shop.",
            "corrections": "Please check the corrected values (at most 200 characters each).",
        },
        "field_error": "Please check this field.",
        "csrf_error": "The form has expired. Please send it again.",
        "conflict_error": "This form was already sent with other content. Please send it again.",
        "received_title": "Request received",
        "received_reference": "Thank you. We have received your request under the reference",
        "received_keep": "Please keep this reference.",
        "received_mail": "We will send you an e-mail with a confirmation link. Please open it "
        "to confirm that the address is yours: only then do we process your request.",
        "received_due": "We will answer by",
        "confirm_title": "Confirm your request",
        "confirm_text": "Please confirm that you made this request and that this e-mail "
        "address is yours: only then do we process it.",
        "confirm_submit": "Confirm",
        "confirm_error": "This page has expired. Please press the button again.",
        "corrections_legend": "Only for a correction: the right values",
        "corrections_hint": "Fill in only the fields that are wrong, with the right value.",
        "corrections_intro": "You asked us to correct your data. Please enter the corrected "
        "values of the fields that are wrong (leave the others empty).",
        "corrections_error": "Please enter at least one corrected value: we cannot correct "
        "your data without knowing what is right.",
        "correction_fields": {
            "first_name": "First name", "last_name": "Last name", "email": "E-mail address",
            "phone": "Phone", "address1": "Street and number", "address2": "Address line 2",
            "city": "City", "zip": "Postcode", "country": "Country",
        },
        "verified_title": "E-mail address confirmed",
        "verified_text": "Thank you. We are now processing your request and will write to you "
        "when it is done. Reference:",
        "gone_title": "Link not valid",
        "gone_text": "This link is invalid, has expired or has already been used.",
        "gone_again": "To exercise your rights, you can send a new request.",
        "code_title": "Confirm with your code",
        "code_intro": "Enter the reference and the 6-digit code from our e-mail.",
        "reference": "Reference",
        "code": "Code",
        "code_submit": "Confirm",
        "code_error": "The code is wrong, has expired or has already been used.",
        "other_language": ("de", "Deutsch"),
        "months": (
            "January", "February", "March", "April", "May", "June",
            "July", "August", "September", "October", "November", "December",
        ),
    },
    "de": {
        "title": "Datenschutz-Anfrage",
        "intro": "Mit diesem Formular machen Sie Ihre Datenschutzrechte geltend "
        "(DSGVO Art. 15-21). Wir antworten innerhalb der gesetzlichen Frist.",
        "kind_legend": "Was möchten Sie?",
        "kinds": {
            "access": "Auskunft über meine Daten und eine Kopie davon (Art. 15)",
            "rectification": "Falsche Daten über mich berichtigen (Art. 16)",
            "erasure": "Meine Daten löschen (Art. 17)",
            "restriction": "Die Verarbeitung meiner Daten einschränken (Art. 18)",
            "portability": "Meine Daten in einem maschinenlesbaren Format (Art. 20)",
            "objection": "Widerspruch gegen die Verarbeitung, z. B. für Werbung (Art. 21)",
            "": "Ich bin nicht sicher - ich beschreibe es in der Nachricht",
        },
        "email": "E-Mail-Adresse",
        "email_hint": "An diese Adresse senden wir einen Bestätigungslink. Bitte verwenden Sie "
        "die Adresse, die Sie bei uns verwendet haben.",
        "name": "Ihr Name",
        "message": "Nachricht (freiwillig, wenn Sie oben gewählt haben)",
        "order_number": "Bestellnummer (freiwillig)",
        "controller": "Shop",
        "submit": "Anfrage senden",
        "errors_title": "Bitte prüfen Sie Folgendes:",
        "field_errors": {
            "email": "Bitte geben Sie eine gültige E-Mail-Adresse an.",
            "name": "Bitte geben Sie Ihren Namen an.",
            "kind": "Bitte wählen Sie, was Sie möchten, oder beschreiben Sie es in der Nachricht.",
            "message": "Die Nachricht ist zu lang (höchstens 5.000 Zeichen).",
            "order_number": "Die Bestellnummer ist zu lang (höchstens 64 Zeichen).",
            "controller": "Bitte wählen Sie den Shop.",
            "corrections": "Bitte prüfen Sie die richtigen Werte (je höchstens 200 Zeichen).",
        },
        "field_error": "Bitte prüfen Sie dieses Feld.",
        "csrf_error": "Das Formular ist abgelaufen. Bitte senden Sie es erneut.",
        "conflict_error": "Dieses Formular wurde bereits mit anderem Inhalt gesendet. "
        "Bitte senden Sie es erneut.",
        "received_title": "Anfrage erhalten",
        "received_reference": "Vielen Dank. Wir haben Ihre Anfrage erhalten unter dem Zeichen",
        "received_keep": "Bitte bewahren Sie dieses Zeichen auf.",
        "received_mail": "Wir senden Ihnen eine E-Mail mit einem Bestätigungslink. Bitte öffnen "
        "Sie ihn, um zu bestätigen, dass die Adresse Ihnen gehört: erst dann bearbeiten wir Ihre "
        "Anfrage.",
        "received_due": "Wir antworten spätestens bis",
        "confirm_title": "Anfrage bestätigen",
        "confirm_text": "Bitte bestätigen Sie, dass Sie diese Anfrage gestellt haben und dass "
        "diese E-Mail-Adresse Ihnen gehört: erst dann bearbeiten wir sie.",
        "confirm_submit": "Bestätigen",
        "confirm_error": "Diese Seite ist abgelaufen. Bitte drücken Sie die Schaltfläche erneut.",
        "corrections_legend": "Nur für eine Berichtigung: die richtigen Werte",
        "corrections_hint": "Füllen Sie nur die unrichtigen Felder aus, mit dem richtigen Wert.",
        "corrections_intro": "Sie haben uns gebeten, Ihre Daten zu berichtigen. Bitte geben "
        "Sie die richtigen Werte der unrichtigen Felder an (die übrigen bleiben leer).",
        "corrections_error": "Bitte geben Sie mindestens einen richtigen Wert an: ohne ihn "
        "können wir Ihre Daten nicht berichtigen.",
        "correction_fields": {
            "first_name": "Vorname", "last_name": "Nachname", "email": "E-Mail-Adresse",
            "phone": "Telefon", "address1": "Straße und Hausnummer", "address2": "Adresszusatz",
            "city": "Ort", "zip": "Postleitzahl", "country": "Land",
        },
        "verified_title": "E-Mail-Adresse bestätigt",
        "verified_text": "Vielen Dank. Wir bearbeiten Ihre Anfrage jetzt und melden uns, sobald "
        "sie erledigt ist. Zeichen:",
        "gone_title": "Link ungültig",
        "gone_text": "Dieser Link ist ungültig, abgelaufen oder wurde bereits verwendet.",
        "gone_again": "Um Ihre Rechte geltend zu machen, können Sie eine neue Anfrage senden.",
        "code_title": "Mit Code bestätigen",
        "code_intro": "Geben Sie das Zeichen der Anfrage und den 6-stelligen Code aus unserer "
        "E-Mail ein.",
        "reference": "Zeichen der Anfrage",
        "code": "Code",
        "code_submit": "Bestätigen",
        "code_error": "Der Code ist falsch, abgelaufen oder wurde bereits verwendet.",
        "other_language": ("en", "English"),
        "months": (
            "Januar", "Februar", "März", "April", "Mai", "Juni",
            "Juli", "August", "September", "Oktober", "November", "Dezember",
        ),
    },
}  # fmt: skip


#: What the page says instead to the consumers of a US business: their rights under the state
#: privacy laws the business applies, in US terms, with the opt-outs those laws give.
_US_KIND_ORDER = ("access", "erasure", "rectification", "opt-out", "limit-sensitive")
US_TEXTS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Your privacy choices",
        "intro": "Use this form to exercise your privacy rights as a consumer under the state "
        "privacy laws that apply to us. We answer within the period the law sets; an opt-out "
        "or a limit needs no confirmation of your identity.",
        "kinds": {
            "access": "Know what personal information you collected about me, and get a copy",
            "erasure": "Delete my personal information",
            "rectification": "Correct inaccurate personal information about me",
            "opt-out": "Do not sell or share my personal information, and no targeted advertising",
            "limit-sensitive": "Limit the use of my sensitive personal information",
            "": "I am not sure - I describe it in the message",
        },
    },
    "de": {
        "title": "Ihre Datenschutz-Wahl",
        "intro": "Mit diesem Formular machen Sie Ihre Rechte als Verbraucher nach den für uns "
        "geltenden Datenschutzgesetzen der US-Bundesstaaten geltend. Wir antworten in der "
        "gesetzlichen Frist; ein Opt-out oder eine Beschränkung braucht keine Bestätigung "
        "Ihrer Identität.",
        "kinds": {
            "access": "Erfahren, welche personenbezogenen Daten Sie über mich erhoben haben, "
            "mit einer Kopie",
            "erasure": "Meine personenbezogenen Daten löschen",
            "rectification": "Unrichtige Daten über mich berichtigen",
            "opt-out": "Meine Daten nicht verkaufen oder weitergeben, keine gezielte Werbung",
            "limit-sensitive": "Die Nutzung meiner sensiblen Daten beschränken",
            "": "Ich bin nicht sicher - ich beschreibe es in der Nachricht",
        },
    },
}


def page_language(query: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names a language of the page, else the browser's first one, else en."""
    if query and query.strip().lower()[:2] in LANGUAGES:
        return query.strip().lower()[:2]
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        ranked.append((-weight, position, tag.strip().lower()[:2]))
    for negated_weight, _, primary in sorted(ranked):
        if negated_weight < 0 and primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def texts(lang: str, *, us: bool = False) -> dict[str, Any]:
    """The page's words in ``lang`` (English for a language the page does not have); ``us``:
    as the consumers of a US business read them."""
    words = TEXTS.get(lang, TEXTS[DEFAULT_LANGUAGE])
    if us:
        words = {**words, **US_TEXTS.get(lang, US_TEXTS[DEFAULT_LANGUAGE])}
    return words


def field_messages(lang: str, fields: list[str]) -> dict[str, str]:
    """A plain message per field that failed, in the page's language."""
    words = texts(lang)
    return {field: words["field_errors"].get(field, words["field_error"]) for field in fields}


def long_date(day: date, lang: str) -> str:
    """``7 April 2026`` / ``7. April 2026``."""
    month = texts(lang)["months"][day.month - 1]
    return f"{day.day}. {month} {day.year}" if lang == "de" else f"{day.day} {month} {day.year}"


class CsrfGuard:
    """Signed, expiring form tokens: ``<nonce>.<expiry>.<hmac>``, in a hidden field and a cookie.

    A post is accepted only when both carry the same token and its signature and expiry hold.
    The nonce doubles as the form's idempotency key, so a double click stores one request.
    """

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 16:
            raise ValueError("a CSRF key needs at least 16 bytes")
        self._key = key
        self._clock = clock

    @classmethod
    def for_secret(cls, secret: str) -> CsrfGuard:
        """Keyed from the webhook secret (stable across workers), or per process without one."""
        if secret:
            key = hmac.new(secret.encode("utf-8"), b"dsar-intake-csrf", hashlib.sha256).digest()
        else:
            key = secrets.token_bytes(32)
        return cls(key)

    def _mac(self, nonce: str, expires: int) -> str:
        return hmac.new(self._key, f"{nonce}.{expires}".encode(), hashlib.sha256).hexdigest()

    def issue(self) -> str:
        """A fresh token for one form."""
        nonce = secrets.token_urlsafe(18)
        expires = int(self._clock()) + CSRF_TTL_SECONDS
        return f"{nonce}.{expires}.{self._mac(nonce, expires)}"

    def check(self, field: str | None, cookie: str | None) -> str | None:
        """The token's nonce when field and cookie agree and the token is valid, else ``None``."""
        if not field or not cookie:
            return None
        if not hmac.compare_digest(
            field.encode("utf-8", "replace"), cookie.encode("utf-8", "replace")
        ):
            return None
        nonce, _, rest = field.partition(".")
        expiry, _, mac = rest.partition(".")
        if not nonce or not expiry.isdigit() or len(expiry) > 12:
            return None
        expected = self._mac(nonce, int(expiry)).encode("ascii")
        if not hmac.compare_digest(expected, mac.encode("utf-8", "replace")):
            return None
        if int(expiry) <= self._clock():
            return None
        return nonce


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, lang: str, *, us: bool = False, **context: Any) -> str:
    """Render ``<template>.html.j2`` with the words of ``lang`` (``us``: a US business's)."""
    words = texts(lang, us=us)
    return (
        _environment()
        .get_template(f"{template}.html.j2")
        .render(lang=lang if lang in LANGUAGES else DEFAULT_LANGUAGE, t=words, **context)
    )


def kind_choices(lang: str, *, us: bool = False) -> list[tuple[str, str]]:
    """The page's kind options in order, the "not sure" option last."""
    labels = texts(lang, us=us)["kinds"]
    return [(kind, labels[kind]) for kind in (*(_US_KIND_ORDER if us else _KIND_ORDER), "")]
