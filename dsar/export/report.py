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
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from dsar.export.readable import CategoryView, readable_categories
from dsar.export.records import SourceResult, Table, category_tables
from dsar.register import EEA_COUNTRIES, Register, parse_duration

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
) -> str:
    """The access report: the copy of the data per recipient, then Art. 15(1)(a)–(h).

    ``received`` maps the recipients this person's data is known to have reached to the
    evidence; given, a recipient without an API is said to have received the data only when
    it is there (``None``: nothing was established, and nothing is claimed either way).
    """
    ctl = register.controller
    names = {c.key: c.name for c in register.categories}
    purposes = [
        {
            "description": p.description,
            "legal_basis": p.legal_basis,
            "categories": [names.get(c, c) for c in p.categories],
            "retention": p.retention,
            "source": p.source,
            "automated_decision_making": p.automated_decision_making,
        }
        for p in register.purposes
    ]
    exceptions = [
        {
            "category": names.get(e.category, e.category),
            "ground": e.ground,
            "law": e.law,
            "period": parse_duration(e.period),
            "from_year_end": e.from_year_end,
            "description": e.description,
        }
        for e in register.retention_exceptions
    ]
    known = {r.key: r.name for r in register.recipients}
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang=report_language(language),
        request_id=request_id,
        generated=now.astimezone(ZoneInfo(ctl.timezone)).strftime("%Y-%m-%d %H:%M %Z"),
        controller=ctl,
        authority=ctl.supervisory_authority,
        found_any=any(result.records for result in results),
        sections=recipient_sections(register, results, received, language=language),
        categories=register.categories,
        purposes=purposes,
        indirect_sources=[
            p for p in purposes if str(p["source"]).strip().lower() not in _FROM_SUBJECT
        ],
        automated=[
            p for p in purposes if str(p["automated_decision_making"]).strip().lower() != "none"
        ],
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
    names = {c.key: c.name for c in register.categories}
    lang = report_language(language)
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
                name=r.name,
                address=r.address,
                country=r.country,
                in_eea=r.country in EEA_COUNTRIES,
                role=r.role.value,
                safeguard=r.transfer_safeguard,
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
