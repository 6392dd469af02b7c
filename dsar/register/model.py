"""The processing register: a controller's record of processing activities (Art. 30 GDPR).

Every request is planned from it: which recipients hold which data categories (Art. 19), for
which purposes, on which legal basis and for how long (the Art. 15(1)(a)–(h) answer), and which
categories a statutory retention duty keeps from erasure (Art. 17(3)(b)). It is a YAML file that
is checked strictly when loaded: an unknown field, a dangling key or a malformed value is refused
with its exact location, because a typo here would silently drop a recipient from an erasure.
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Hashable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from dsar.enums import RecipientRole, Regime
from dsar.errors import NotFoundError, RegisterError

#: Connector modules a recipient can name; ``manual`` means an Art. 19 notice plus a staff task.
KNOWN_CONNECTORS = frozenset({"shopify", "klaviyo", "mailchimp", "manual"})

#: ISO 3166-1 alpha-2 codes (officially assigned).
_ISO_CODES = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW"""
ISO_COUNTRIES = frozenset(_ISO_CODES.split())

#: The EU member states plus Iceland, Liechtenstein and Norway, where the GDPR applies.
_EEA_CODES = (
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO"
)
EEA_COUNTRIES = frozenset(_EEA_CODES.split())

#: US states whose consumer-privacy law the engine implements.
_US_STATE_REGIMES = {"CA": Regime.CCPA, "VA": Regime.VCDPA, "CO": Regime.CPA}

_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DURATION = re.compile(r"P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?")
_SECTION_ENTRY = {"categories": "category", "purposes": "purpose", "recipients": "recipient"}


def parse_duration(value: str) -> tuple[int, int, int]:
    """Read an ISO-8601 date duration ("P7Y", "P30D", "P1Y6M", "P2W") as (years, months, days).

    Time parts ("PT12H") are refused: retention periods in law are counted in calendar units.
    Raises ``ValueError`` on anything else.
    """
    match = _DURATION.fullmatch(value)
    if match is None or value == "P":
        raise ValueError(f"{value!r} is not a duration like 'P7Y', 'P6M', 'P30D' or 'P1Y6M'")
    years, months, weeks, days = (int(part or 0) for part in match.group("y", "m", "w", "d"))
    return years, months, days + 7 * weeks


def add_duration(day: date, duration: str) -> date:
    """``day`` plus a duration, clamping to the month's last day (29 Feb + 1 year = 28 Feb)."""
    years, months, days = parse_duration(duration)
    year, month = divmod(day.year * 12 + day.month - 1 + years * 12 + months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last)) + timedelta(days=days)


class _Located(ValueError):
    """A failure found by a model about one of its parts; ``location`` is relative to the model."""

    def __init__(self, location: str, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


def _check_key(value: str) -> str:
    if not _KEY.fullmatch(value):
        raise ValueError("a key is lower-case letters, digits, '-' and '_' (e.g. 'amazon_pay')")
    return value


def _check_country(value: str) -> str:
    if value not in ISO_COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code (e.g. 'AT', 'US')")
    return value


def _check_timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. 'Europe/Vienna')") from None
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_connector(value: str) -> str:
    if value not in KNOWN_CONNECTORS:
        known = ", ".join(sorted(KNOWN_CONNECTORS))
        raise ValueError(f"unknown connector {value!r}; use one of: {known}")
    return value


def _check_https_url(value: str) -> str:
    """HTTPS only, except loopback hosts so that local test receivers can be used."""
    parts = urlsplit(value)
    loopback = parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if not parts.hostname or not (parts.scheme == "https" or loopback):
        raise ValueError("expected an https:// URL")
    return value


def _number_to_str(value: object) -> object:
    """Accept ``subdivision: 9`` (Vienna) unquoted; YAML reads it as a number."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


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
    representative: Text | None = None  # Art. 27, for a controller outside the EU

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
        return self


class Category(_Keyed):
    """A category of personal data (Art. 15(1)(b)).

    ``provided_by_subject`` bounds portability: Art. 20 covers data the subject provided,
    actively or as observed through use of the service (WP242 rev.01), not derived data.
    ``special`` marks Art. 9 data.
    """

    name: Text
    description: Text
    provided_by_subject: bool
    special: bool = False


class Purpose(_Keyed):
    """Why categories are processed, on which basis, for how long and from where (Art. 15(1))."""

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


class Recipient(_Keyed):
    """Someone the data is disclosed to (Art. 4(9)), named by identity (CJEU C-154/21).

    ``marketing`` marks a direct-marketing recipient, which an objection (Art. 21(3)) or a
    withdrawal of consent (Art. 7(3)) must stop.
    """

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


class RetentionException(_Entry):
    """A legal duty to keep a category, which turns its erasure into restriction (Art. 17(3)).

    ``from_year_end`` counts the period from the end of the calendar year, as tax and commercial
    codes do (§ 132 BAO, § 212 UGB, § 147 AO).
    """

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
        is not bound by the UK GDPR just because a customer lives in London); otherwise the
        controller's primary regime applies.
        """
        residence = _regime_of_residence(country, subdivision)
        if residence is not None and residence in self.controller.regimes:
            return residence
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


def _regime_of_residence(country: str | None, subdivision: str | None) -> Regime | None:
    code = (country or "").strip().upper()
    if code in EEA_COUNTRIES:
        return Regime.GDPR
    if code == "GB":
        return Regime.UK_GDPR
    if code == "BR":
        return Regime.LGPD
    if code == "US" and subdivision:
        return _US_STATE_REGIMES.get(subdivision.strip().upper().removeprefix("US-"))
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


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing the duplicate mapping keys it would silently overwrite."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable):
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_register(text: str, *, source: str = "<string>") -> Register:
    """Validate register YAML; any problem raises :class:`RegisterError` naming where it is."""
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise RegisterError(source, location, exc.problem or "invalid YAML") from exc
    except yaml.YAMLError as exc:
        raise RegisterError(source, "", "invalid YAML") from exc
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        found = "an empty file" if data is None else f"a {type(data).__name__}"
        raise RegisterError(source, "", f"a register must be a YAML mapping, found {found}")
    try:
        return Register.model_validate(data)
    except ValidationError as exc:
        raise _translate(exc, data, source) from exc


def load_register(path: str | Path) -> Register:
    """Read and validate the register at ``path``; see :func:`parse_register`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegisterError(source, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RegisterError(source, "", f"cannot read the file ({type(exc).__name__})") from exc
    return parse_register(text, source=source)


def discover_registers(directory: Path) -> dict[str, Path]:
    """Map each controller key to its register file among ``directory``'s ``*.yaml``/``*.yml``.

    Every file is fully validated, so a broken register is reported here rather than mid-request.
    """
    if not directory.is_dir():
        raise RegisterError(str(directory), "", "not a directory")
    found: dict[str, Path] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        key = load_register(path).controller.key
        if key in found:
            reason = f"controller key {key!r} is also used by {found[key].name}"
            raise RegisterError(str(path), "controller.key", reason)
        found[key] = path
    return found


def _translate(exc: ValidationError, data: dict[str, Any], source: str) -> RegisterError:
    """Turn pydantic's first error into a dotted location and a reason an author can act on."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    if error["type"] == "missing":  # a misspelt required field shows up missing *and* unknown
        parent = error["loc"][:-1]
        typos = (e for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == parent)
        error = next(typos, error)
    location = [str(part) for part in error["loc"]]
    reason = str(error["msg"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _Located):
        location += cause.location.split(".")
        reason = cause.reason
    elif isinstance(cause, ValueError):
        reason = str(cause)
    elif error["type"] == "extra_forbidden":
        reason = "unknown field" + _suggestion(location)
    elif error["type"] == "missing":
        reason = "required field is missing"
    elif error["type"] == "string_type" and isinstance(error["input"], bool):
        reason += " (YAML reads unquoted yes/no/on/off as booleans: quote the value)"
    return RegisterError(source, ".".join(location), reason + _entry_hint(data, location))


def _suggestion(location: Sequence[str]) -> str:
    """ "; did you mean 'connector'?" for a misspelt field name, when one is close."""
    model: type[BaseModel] | None = Register
    for part in location[:-1]:
        if model is None or part.isdigit():
            continue
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    if model is None or not location:
        return ""
    close = difflib.get_close_matches(location[-1], list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return next((m for m in map(_model_in, get_args(annotation)) if m is not None), None)


def _entry_hint(data: dict[str, Any], location: Sequence[str]) -> str:
    """ " (in recipient 'klaviyo')" when the location is inside a keyed list entry."""
    if len(location) < 2 or location[0] not in _SECTION_ENTRY or not location[1].isdigit():
        return ""
    entries = data.get(location[0])
    index = int(location[1])
    if (
        not isinstance(entries, list)
        or index >= len(entries)
        or not isinstance(entries[index], dict)
    ):
        return ""
    key = entries[index].get("key")
    return f" (in {_SECTION_ENTRY[location[0]]} {key!r})" if isinstance(key, str) else ""
