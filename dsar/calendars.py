"""Working days, public holidays and time zones of the places controllers are established in.

Public holidays come from the ``holidays`` package for the country and subdivision; a place is
resolved once (aliases such as UK → GB, a country's default subdivision) and its holidays
cached per year."""

from __future__ import annotations

import calendar
import functools
from datetime import date, timedelta

import holidays

from dsar.errors import DeadlineError

_ONE_DAY = timedelta(days=1)


# No real calendar has this many non-working days in a row; the bound only stops a runaway loop.
_MAX_ROLL_DAYS = 31


_COUNTRY_ALIASES = {"UK": "GB"}


# The UK has no UK-wide public-holiday calendar: England's is the common default.
_DEFAULT_SUBDIVISION = {"GB": "ENG"}


# Capital (or most populous) zone per country: used when the controller's zone is not given.
# fmt: off
_COUNTRY_ZONES = {
    # EU
    "AT": "Europe/Vienna", "BE": "Europe/Brussels", "BG": "Europe/Sofia", "CY": "Asia/Nicosia",
    "CZ": "Europe/Prague", "DE": "Europe/Berlin", "DK": "Europe/Copenhagen",
    "EE": "Europe/Tallinn", "ES": "Europe/Madrid", "FI": "Europe/Helsinki", "FR": "Europe/Paris",
    "GR": "Europe/Athens", "HR": "Europe/Zagreb", "HU": "Europe/Budapest", "IE": "Europe/Dublin",
    "IT": "Europe/Rome", "LT": "Europe/Vilnius", "LU": "Europe/Luxembourg", "LV": "Europe/Riga",
    "MT": "Europe/Malta", "NL": "Europe/Amsterdam", "PL": "Europe/Warsaw", "PT": "Europe/Lisbon",
    "RO": "Europe/Bucharest", "SE": "Europe/Stockholm", "SI": "Europe/Ljubljana",
    "SK": "Europe/Bratislava",
    # EEA, Switzerland, the UK and European microstates
    "IS": "Atlantic/Reykjavik", "LI": "Europe/Vaduz", "NO": "Europe/Oslo", "CH": "Europe/Zurich",
    "GB": "Europe/London", "AD": "Europe/Andorra", "MC": "Europe/Monaco",
    "SM": "Europe/San_Marino",
    # Elsewhere
    "US": "America/New_York", "CA": "America/Toronto", "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City", "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney", "NZ": "Pacific/Auckland", "JP": "Asia/Tokyo", "KR": "Asia/Seoul",
    "IN": "Asia/Kolkata", "SG": "Asia/Singapore", "IL": "Asia/Jerusalem",
    "ZA": "Africa/Johannesburg",
}


def _by_zone(table: dict[str, str]) -> dict[str, str]:
    """Invert ``{zone: "CODE CODE ..."}`` into ``{code: zone}``."""
    return {code: zone for zone, codes in table.items() for code in codes.split()}


# The zone most of a subdivision's population lives in (tz database names).
_SUBDIVISION_ZONES: dict[str, dict[str, str]] = {
    "US": _by_zone(
        {
            "America/New_York": "CT DC DE FL GA KY MA MD ME NC NH NJ NY OH PA RI SC VA VT WV",
            "America/Chicago": "AL AR IA IL KS LA MN MO MS ND NE OK SD TN TX WI",
            "America/Denver": "CO MT NM UT WY",
            "America/Boise": "ID",
            "America/Detroit": "MI",
            "America/Indiana/Indianapolis": "IN",
            "America/Phoenix": "AZ",
            "America/Los_Angeles": "CA NV OR WA",
            "America/Anchorage": "AK",
            "Pacific/Honolulu": "HI",
            "America/Puerto_Rico": "PR",
            "America/St_Thomas": "VI",
            "Pacific/Guam": "GU",
            "Pacific/Saipan": "MP",
            "Pacific/Pago_Pago": "AS",
        }
    ),
    "CA": _by_zone(
        {
            "America/Toronto": "ON QC",
            "America/Halifax": "NS PE",
            "America/Moncton": "NB",
            "America/St_Johns": "NL",
            "America/Winnipeg": "MB",
            "America/Regina": "SK",
            "America/Edmonton": "AB NT",
            "America/Vancouver": "BC",
            "America/Whitehorse": "YT",
            "America/Iqaluit": "NU",
        }
    ),
    "AU": _by_zone(
        {
            "Australia/Sydney": "ACT NSW",
            "Australia/Melbourne": "VIC",
            "Australia/Brisbane": "QLD",
            "Australia/Adelaide": "SA",
            "Australia/Darwin": "NT",
            "Australia/Hobart": "TAS",
            "Australia/Perth": "WA",
        }
    ),
    "BR": _by_zone(
        {
            "America/Sao_Paulo": "DF ES GO MG PR RJ RS SC SP",
            "America/Bahia": "BA",
            "America/Fortaleza": "CE MA PB PI RN",
            "America/Recife": "PE",
            "America/Maceio": "AL SE",
            "America/Belem": "AP PA",
            "America/Araguaina": "TO",
            "America/Campo_Grande": "MS",
            "America/Cuiaba": "MT",
            "America/Manaus": "AM",
            "America/Porto_Velho": "RO",
            "America/Boa_Vista": "RR",
            "America/Rio_Branco": "AC",
        }
    ),
    "ES": {"CN": "Atlantic/Canary"},
    "PT": {"20": "Atlantic/Azores", "30": "Atlantic/Madeira"},
}


def default_timezone(country: str, subdivision: str | None = None) -> str:
    """The controller's zone when none is configured: its subdivision's, else its capital's.

    The receipt day is a calendar date in the controller's zone (Reg. 1182/71 counts days), so
    the zone decides whether a request sent near midnight counts from one day or the next.
    """
    code = _COUNTRY_ALIASES.get(country.strip().upper(), country.strip().upper())
    if subdivision is not None:
        zone = _SUBDIVISION_ZONES.get(code, {}).get(subdivision.strip().upper())
        if zone is not None:
            return zone
    try:
        return _COUNTRY_ZONES[code]
    except KeyError:
        raise DeadlineError(
            f"no default time zone for country {country!r}; pass the controller's zone "
            "(a tz database name such as 'Europe/Vienna')"
        ) from None


@functools.lru_cache(maxsize=64)
def _resolve_place(country: str, subdivision: str | None) -> tuple[str, str | None]:
    """Canonical ``(country, subdivision)`` codes, checked against the ``holidays`` package."""
    code = _COUNTRY_ALIASES.get(country.strip().upper(), country.strip().upper())
    try:
        entity = holidays.country_holidays(code)
    except NotImplementedError as exc:
        raise DeadlineError(
            f"unknown country {country!r}; expected an ISO 3166-1 alpha-2 code such as 'AT'"
        ) from exc
    if subdivision is None:
        return code, _DEFAULT_SUBDIVISION.get(code)
    wanted = subdivision.strip().casefold()
    for candidate in entity.subdivisions:
        if candidate.casefold() == wanted:
            return code, candidate
    for alias, candidate in entity.subdivisions_aliases.items():
        if alias.casefold() == wanted:
            return code, candidate
    valid = ", ".join(entity.subdivisions) or "none"
    raise DeadlineError(
        f"unknown subdivision {subdivision!r} for country {code!r}; expected one of: {valid}"
    )


@functools.lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """One year's public holidays (public category only: not bank, school or religious days)."""
    try:
        calendar_ = holidays.country_holidays(
            country, subdiv=subdivision, years=year, categories=(holidays.PUBLIC,)
        )
    except (NotImplementedError, ValueError) as exc:
        raise DeadlineError(
            f"no public-holiday calendar for country {country!r}, subdivision {subdivision!r}"
        ) from exc
    return frozenset(calendar_.keys())


def is_working_day(day: date, *, country: str, subdivision: str | None = None) -> bool:
    """Monday to Friday and not a public holiday there (Reg. 1182/71 Art. 3(4))."""
    if day.weekday() >= calendar.SATURDAY:
        return False
    code, subdiv = _resolve_place(country, subdivision)
    return day not in _public_holidays(code, subdiv, day.year)


def next_working_day(day: date, *, country: str, subdivision: str | None = None) -> date:
    """``day`` itself if it is a working day, else the first working day after it.

    Reg. 1182/71 Art. 3(4): a period whose last day is a Saturday, Sunday or public holiday
    ends with the expiry of the last hour of the following working day.
    """
    candidate = day
    for _ in range(_MAX_ROLL_DAYS):
        if is_working_day(candidate, country=country, subdivision=subdivision):
            return candidate
        candidate += _ONE_DAY
    raise DeadlineError(f"no working day within {_MAX_ROLL_DAYS} days of {day.isoformat()}")


def add_working_days(
    day: date, count: int, *, country: str, subdivision: str | None = None
) -> date:
    """The ``count``-th working day after ``day`` (``day`` itself does not count).

    11 CCR §7001 defines a business day as Monday to Friday, excluding state holidays.
    """
    candidate = day
    remaining = count
    while remaining > 0:
        candidate += _ONE_DAY
        if is_working_day(candidate, country=country, subdivision=subdivision):
            remaining -= 1
    return candidate
