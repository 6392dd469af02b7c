"""The human-readable report in an access package (Art. 15): ``report.html``.

A self-contained page a person can read without training: the copy of the data per
recipient, then the Art. 15(1)(a)–(h) facts taken from the processing register — purposes
and legal bases, categories, recipients and their countries and safeguards, retention,
sources, automated decisions, the supervisory authority — in English or German. Processor
data is escaped: markup in it shows as text and never runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dsar.export.readable import CategoryView, readable_categories
from dsar.export.records import SourceResult, Table, category_tables
from dsar.register import EEA_COUNTRIES, Register, parse_duration
from dsar.uslaw import is_us, law_of

_TEMPLATES = Path(__file__).resolve().parent / "templates"

#: Languages the report template has texts for; anything else gets English.
REPORT_LANGUAGES: tuple[str, ...] = ("en", "de")

#: ``Purpose.source`` values meaning "collected from the subject"; others are named (15(1)(g)).
_FROM_SUBJECT = frozenset({"data subject", "the data subject", "subject", "you"})


@dataclass(frozen=True)
class RecipientSection:
    """One recipient as the report shows it: who it is, what it got, what it holds of the subject.

    ``state`` is ``data`` (records below), ``none_found``, ``failed`` (to follow), ``manual`` (no
    interface to query) or ``not_queried``.
    """

    key: str
    name: str
    address: str
    country: str
    in_eea: bool | None
    role: str
    safeguard: str
    categories: tuple[str, ...]
    state: str
    note: str
    tables: tuple[Table, ...]
    #: The same records in the shapes people know, in the report's language (the HTML shows
    #: these; ``tables`` feed the CSV files, complete).
    views: tuple[CategoryView, ...] = ()


def report_language(language: str) -> str:
    """``de``, ``de-AT`` and ``de_DE`` give German; an unsupported language gives English."""
    code = language.strip().lower().replace("_", "-").split("-")[0]
    return code if code in REPORT_LANGUAGES else "en"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Autoescape on: processor data may contain markup, which must show as text, never run.
    return Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(
    *,
    request_id: str,
    language: str,
    register: Register,
    results: Sequence[SourceResult],
    now: datetime,
    notified: Sequence[str] = (),
    received: Mapping[str, Sequence[str]] | None = None,
    regime: str | None = None,
) -> str:
    """The access report: the copy of the data per recipient, then Art. 15(1)(a)–(h).

    ``received`` maps the recipients this person's data is known to have reached to the
    evidence; given, a recipient without an API is said to have received the data only when
    it is there (``None``: nothing was established, and nothing is claimed either way).
    A US ``regime`` (a state law, or the business's policy) gets the report in US terms,
    citing the state's statutes (``report_us.html.j2``).
    """
    ctl = register.controller
    lang = report_language(language)
    names = {c.key: c.text("name", lang) for c in register.categories}
    purposes = [
        {
            "description": p.text("description", lang),
            "legal_basis": p.text("legal_basis", lang),
            "categories": [names.get(c, c) for c in p.categories],
            "retention": p.text("retention", lang),
            "source": p.text("source", lang),
            "indirect": p.source.strip().lower() not in _FROM_SUBJECT,
            "automated_decision_making": p.text("automated_decision_making", lang),
            "automated": p.automated_decision_making.strip().lower() != "none",
        }
        for p in register.purposes
    ]
    exceptions = [
        {
            "category": names.get(e.category, e.category),
            "ground": e.text("ground", lang),
            "law": e.text("law", lang),
            "period": parse_duration(e.period),
            "from_year_end": e.from_year_end,
            "description": e.text("description", lang),
        }
        for e in register.retention_exceptions
    ]
    categories = [
        {
            "name": c.text("name", lang),
            "description": c.text("description", lang),
            "special": c.special,
        }
        for c in register.categories
    ]
    known = {r.key: r.text("name", lang) for r in register.recipients}
    us = regime is not None and is_us(regime)
    template = _environment().get_template("report_us.html.j2" if us else "report.html.j2")
    extra: dict[str, Any] = {}
    if us:
        applicability = ctl.applicability
        extra = {
            "law": law_of(regime or ""),
            "other_consumers": applicability.other_consumers if applicability else "",
        }
    return template.render(
        **extra,
        lang=lang,
        request_id=request_id,
        generated=now.astimezone(ZoneInfo(ctl.timezone)).strftime("%Y-%m-%d %H:%M %Z"),
        controller=ctl,
        authority=ctl.supervisory_authority,
        found_any=any(result.records for result in results),
        sections=recipient_sections(register, results, received, language=language),
        categories=categories,
        purposes=purposes,
        indirect_sources=[p for p in purposes if p["indirect"]],
        automated=[p for p in purposes if p["automated"]],
        retention_exceptions=exceptions,
        notified=[known.get(key, key) for key in notified],
        show_notified=bool(notified),
    )


def recipient_sections(
    register: Register,
    results: Sequence[SourceResult],
    received: Mapping[str, Sequence[str]] | None = None,
    *,
    language: str = "en",
) -> list[RecipientSection]:
    """Every register recipient in register order, then any source the register does not name."""
    lang = report_language(language)
    names = {c.key: c.text("name", lang) for c in register.categories}
    by_recipient: dict[str, list[SourceResult]] = {}
    for result in results:
        by_recipient.setdefault(result.recipient, []).append(result)
    sections = []
    for r in register.recipients:
        found = by_recipient.pop(r.key, [])
        state = _state(found, manual=r.connector == "manual")
        note = " ".join(x.note for x in found if x.note)
        if state == "manual" and received is not None:
            state = "manual_received" if r.key in received else "manual_not_received"
            note = "; ".join(received.get(r.key, ()))
        sections.append(
            RecipientSection(
                key=r.key,
                name=r.text("name", lang),
                address=r.text("address", lang),
                country=r.country,
                in_eea=r.country in EEA_COUNTRIES,
                role=r.role.value,
                safeguard=r.text("transfer_safeguard", lang),
                categories=tuple(names.get(c, c) for c in r.categories),
                state=state,
                note=note,
                tables=_named_tables(found, names),
                views=readable_categories(found, language=lang, names=names),
            )
        )
    for key, found in by_recipient.items():
        sections.append(
            RecipientSection(
                key=key,
                name=key,
                address="",
                country="",
                in_eea=None,
                role="",
                safeguard="",
                categories=(),
                state=_state(found, manual=False),
                note=" ".join(x.note for x in found if x.note),
                tables=_named_tables(found, names),
                views=readable_categories(found, language=lang, names=names),
            )
        )
    return sections


def _state(found: Sequence[SourceResult], *, manual: bool) -> str:
    if not found:
        return "manual" if manual else "not_queried"
    if any(result.records for result in found):
        return "data"
    if any(result.status == "failed" for result in found):
        return "failed"
    return "none_found"


def _named_tables(found: Sequence[SourceResult], names: Mapping[str, str]) -> tuple[Table, ...]:
    return tuple(
        replace(t, category=names.get(t.category, t.category)) for t in category_tables(found)
    )
