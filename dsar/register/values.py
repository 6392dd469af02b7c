"""The values a register may hold: keys, countries, durations, connectors, URLs, each checked."""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsar.evidence import RULES

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


_KEY = re.compile(r"[a-z0-9][a-z0-9_-]*")


_DURATION = re.compile(r"P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?")


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


def _parse_evidence(value: object) -> object:
    """A recipient's evidence rule: one of :data:`dsar.evidence.RULES`, or
    ``{payment_gateways: [names]}`` (a tuple of the names)."""
    if isinstance(value, str) and value in RULES:
        return value
    if isinstance(value, dict) and set(value) == {"payment_gateways"}:
        names = value["payment_gateways"]
        if (
            isinstance(names, list)
            and names
            and all(isinstance(n, str) and n.strip() for n in names)
        ):
            return tuple(n.strip() for n in names)
    forms = ", ".join(RULES)
    raise ValueError(f"must be one of {forms}, or {{payment_gateways: [names]}}")
