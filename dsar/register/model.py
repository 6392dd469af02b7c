"""The processing register: a controller's record of processing activities (Art. 30 GDPR).

Every request is planned from it: which recipients hold which data categories (Art. 19), for
which purposes, on which legal basis and for how long (the Art. 15(1)(a)–(h) answer), and which
categories a statutory retention duty keeps from erasure (Art. 17(3)(b)). It is a YAML file that
is checked strictly when loaded: an unknown field, a dangling key or a malformed value is refused
with its exact location, because a typo here would silently drop a recipient from an erasure.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from dsar.enums import RecipientRole, Regime
from dsar.errors import NotFoundError
from dsar.register.applicability import Applicability
from dsar.register.translated import Language, Translated
from dsar.register.values import (
    EEA_COUNTRIES,
    _check_connector,
    _check_country,
    _check_duration,
    _check_https_url,
    _check_key,
    _check_timezone,
    _Located,
    _number_to_str,
    _parse_evidence,
    add_duration,
)
from dsar.uslaw import REGIME_OF_STATE, us_state

_SECTION_ENTRY = {"categories": "category", "purposes": "purpose", "recipients": "recipient"}


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Key = Annotated[str, AfterValidator(_check_key)]
Country = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True), AfterValidator(_check_country)
]
Duration = Annotated[str, AfterValidator(_check_duration)]
HttpsUrl = Annotated[str, AfterValidator(_check_https_url)]


class _Entry(BaseModel):
    """Frozen and closed: an unknown field is a typo, not an extension."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Keyed(_Entry):
    key: Key


class SupervisoryAuthority(_Entry):
    """Where the subject may lodge a complaint (Art. 77); named in every answer (Art. 15(1)(f))."""

    name: Text
    address: Text
    url: HttpsUrl
    email: EmailStr | None = None


class Controller(_Entry):
    """Who decides on the processing (Art. 4(7)); its country and zone anchor every deadline."""

    key: Key
    name: Text
    address: Text
    privacy_email: EmailStr
    country: Country
    subdivision: Annotated[str | None, BeforeValidator(_number_to_str)] = None
    timezone: Annotated[str, AfterValidator(_check_timezone)]
    regime: Regime
    regimes: tuple[Regime, ...]
    supervisory_authority: SupervisoryAuthority
    default_language: Literal["en", "de"] = "en"
    #: Further languages the register's texts are given in (``translations``), for answers.
    languages: tuple[Language, ...] = ()
    representative: Text | None = None  # Art. 27, for a controller outside the EU
    applicability: Applicability | None = None  # the facts behind ``regimes``, as asserted

    @model_validator(mode="before")
    @classmethod
    def _regimes_default_to_primary(cls, data: Any) -> Any:
        if isinstance(data, dict) and "regimes" not in data and "regime" in data:
            return {**data, "regimes": [data["regime"]]}
        return data

    @model_validator(mode="after")
    def _primary_regime_applies(self) -> Controller:
        if self.regime not in self.regimes:
            raise _Located("regimes", f"must contain the primary regime {self.regime.value!r}")
        if self.applicability is not None and set(self.applicability.laws) != set(self.regimes):
            raise _Located("applicability.laws", "must name exactly the laws in 'regimes'")
        return self


class Category(_Keyed, Translated):
    """A category of personal data (Art. 15(1)(b)).

    ``provided_by_subject`` bounds portability: Art. 20 covers data the subject provided,
    actively or as observed through use of the service (WP242 rev.01), not derived data.
    ``special`` marks Art. 9 data.
    """

    TRANSLATABLE = ("name", "description")

    name: Text
    description: Text
    provided_by_subject: bool
    special: bool = False


class Purpose(_Keyed, Translated):
    """Why categories are processed, on which basis, for how long and from where (Art. 15(1))."""

    TRANSLATABLE = (
        "description",
        "legal_basis",
        "retention",
        "source",
        "automated_decision_making",
    )

    description: Text
    legal_basis: Text
    categories: tuple[str, ...] = Field(min_length=1)
    retention: Text
    retention_period: Duration | None = None
    source: Text = "data subject"
    automated_decision_making: Text = "none"


class Notice(_Entry):
    """The channel for a recipient's Art. 19 notice: exactly one of ``email`` or ``webhook``."""

    email: EmailStr | None = None
    webhook: HttpsUrl | None = None

    @model_validator(mode="after")
    def _exactly_one_channel(self) -> Notice:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("give exactly one of 'email' or 'webhook'")
        return self

    @property
    def channel(self) -> Literal["email", "webhook"]:
        return "email" if self.email is not None else "webhook"

    @property
    def address(self) -> str:
        return self.email if self.email is not None else str(self.webhook)


class Recipient(_Keyed, Translated):
    """Someone the data is disclosed to (Art. 4(9)), named by identity (CJEU C-154/21).

    ``marketing`` marks a direct-marketing recipient, which an objection (Art. 21(3)) or a
    withdrawal of consent (Art. 7(3)) must stop.
    """

    TRANSLATABLE = ("name", "address", "transfer_safeguard")

    name: Text
    address: Text
    country: Country
    role: RecipientRole
    transfer_safeguard: Text  # Art. 15(2), Art. 44-46
    categories: tuple[str, ...] = Field(min_length=1)
    connector: Annotated[str, AfterValidator(_check_connector)]
    marketing: bool = False
    notice: Notice
    purposes: tuple[str, ...] = Field(min_length=1)
    instructions: Text | None = None
    #: How this recipient is shown to have received a person's data (:mod:`dsar.evidence`).
    evidence: Annotated[str | tuple[str, ...], BeforeValidator(_parse_evidence)]

    @model_validator(mode="after")
    def _found_needs_a_connector(self) -> Recipient:
        if self.evidence == "found" and self.connector == "manual":
            raise _Located("evidence", "'found' needs a connector that can search the recipient")
        return self


class RetentionException(_Entry, Translated):
    """A legal duty to keep a category, which turns its erasure into restriction (Art. 17(3)).

    ``from_year_end`` counts the period from the end of the calendar year, as tax and commercial
    codes do (§ 132 BAO, § 212 UGB, § 147 AO).
    """

    TRANSLATABLE = ("ground", "law", "description")

    category: str
    ground: Text
    law: Text
    period: Duration
    description: Text
    from_year_end: bool = False

    def retention_end(self, from_day: date) -> date:
        """The last day the data must be kept when the retained record dates from ``from_day``."""
        start = date(from_day.year, 12, 31) if self.from_year_end else from_day
        return add_duration(start, self.period)


_KeyedT = TypeVar("_KeyedT", bound=_Keyed)


class Register(_Entry):
    """The whole record of processing activities of one controller."""

    controller: Controller
    categories: tuple[Category, ...] = Field(min_length=1)
    purposes: tuple[Purpose, ...] = Field(min_length=1)
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    retention_exceptions: tuple[RetentionException, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Register:
        problem = next(_reference_problems(self), None)
        if problem is not None:
            raise problem
        return self

    def recipient(self, key: str) -> Recipient:
        return _find(self.recipients, key, "recipient")

    def category(self, key: str) -> Category:
        return _find(self.categories, key, "category")

    def purpose(self, key: str) -> Purpose:
        return _find(self.purposes, key, "purpose")

    def recipients_for(self, category: str) -> tuple[Recipient, ...]:
        """Recipients that received ``category``: those an Art. 19 notice must reach."""
        return tuple(r for r in self.recipients if category in r.categories)

    def regime_for(self, *, country: str | None = None, subdivision: str | None = None) -> Regime:
        """The law governing a request from a subject living in ``country``/``subdivision``.

        Residence decides only among the regimes the controller is subject to (a Vienna shop
        is not bound by the UK GDPR just because a customer lives in London). A business that
        records why its laws apply (``applicability``) serves a consumer of another place under
        its stated policy (:attr:`Regime.POLICY`), citing no law; otherwise, and whenever the
        residence is unknown, the controller's primary regime applies. An unknown US state is
        an :class:`~dsar.errors.InputError`.
        """
        code = (country or "").strip().upper()
        residence = _regime_of_residence(code, subdivision)
        if residence is not None and residence in self.controller.regimes:
            return residence
        known = residence is not None or code not in ("", "US")
        if self.controller.applicability is not None and known:
            return Regime.POLICY
        return self.controller.regime

    def retentions_for(self, category: str) -> tuple[RetentionException, ...]:
        """Every retention duty on ``category``, in register order."""
        return tuple(e for e in self.retention_exceptions if e.category == category)

    def retention_for(self, category: str) -> RetentionException | None:
        """The retention duty that keeps ``category`` longest, or ``None`` when it may be erased.

        Periods are compared from a common reference day; ties go to the first declared.
        """
        duties = self.retentions_for(category)
        reference = date(2000, 1, 1)
        return max(duties, key=lambda e: e.retention_end(reference), default=None)

    def summary_rows(self) -> list[dict[str, str]]:
        """One printable row per recipient, for ``dsar register check`` and the Art. 15 answer."""
        return [
            {
                "key": r.key,
                "name": r.name,
                "country": r.country,
                "role": r.role.value,
                "safeguard": r.transfer_safeguard,
                "connector": r.connector,
                "categories": ", ".join(r.categories),
                "notice": f"{r.notice.channel}: {r.notice.address}",
            }
            for r in self.recipients
        ]


def _find(entries: Sequence[_KeyedT], key: str, what: str) -> _KeyedT:
    for entry in entries:
        if entry.key == key:
            return entry
    raise NotFoundError(f"no {what} {key!r} in the register")


def _regime_of_residence(code: str, subdivision: str | None) -> Regime | None:
    if code in EEA_COUNTRIES:
        return Regime.GDPR
    if code == "GB":
        return Regime.UK_GDPR
    if code == "BR":
        return Regime.LGPD
    if code == "US" and subdivision:
        return REGIME_OF_STATE.get(us_state(subdivision), Regime.POLICY)
    return None


def _reference_problems(register: Register) -> Iterator[_Located]:
    """Duplicate keys, keys that name nothing, and third-country transfers without a safeguard."""
    sections: dict[str, Sequence[_Keyed]] = {
        "categories": register.categories,
        "purposes": register.purposes,
        "recipients": register.recipients,
    }
    for section, entries in sections.items():
        first: dict[str, int] = {}
        for index, entry in enumerate(entries):
            if entry.key in first:
                where = f"{section}.{first[entry.key]}"
                yield _Located(f"{section}.{index}.key", f"duplicate key (first used at {where})")
            first.setdefault(entry.key, index)
    categories = {c.key for c in register.categories}
    purposes = {p.key for p in register.purposes}
    references: list[tuple[str, str, set[str], str]] = []
    for i, purpose in enumerate(register.purposes):
        references += _keys_at(
            f"purposes.{i}.categories", purpose.categories, categories, "category"
        )
    for i, recipient in enumerate(register.recipients):
        where = f"recipients.{i}"
        references += _keys_at(f"{where}.categories", recipient.categories, categories, "category")
        references += _keys_at(f"{where}.purposes", recipient.purposes, purposes, "purpose")
    for i, exception in enumerate(register.retention_exceptions):
        references.append(
            (f"retention_exceptions.{i}.category", exception.category, categories, "category")
        )
    for location, key, known, what in references:
        if key not in known:
            yield _Located(location, f"unknown {what} {key!r}")
    if Regime.GDPR in register.controller.regimes:
        for i, recipient in enumerate(register.recipients):
            unsafe = recipient.transfer_safeguard.lower().startswith("none")
            if recipient.country not in EEA_COUNTRIES and unsafe:
                yield _Located(
                    f"recipients.{i}.transfer_safeguard",
                    "a recipient outside the EEA needs a Chapter V GDPR safeguard "
                    "(adequacy decision, SCC, ...)",
                )


def _keys_at(
    where: str, keys: Sequence[str], known: set[str], what: str
) -> list[tuple[str, str, set[str], str]]:
    return [(f"{where}.{j}", key, known, what) for j, key in enumerate(keys)]
