"""Statutory response deadlines: the date by which a data-subject request must be answered.

Everything here is a pure function of its arguments (plus the public-holiday calendars of the
``holidays`` package), so the deadline monitor, the CLI and the tests all get the same answer.

GDPR and UK GDPR count "one month of receipt" (Art. 12(3)) under Regulation (EEC, Euratom)
No 1182/71, Art. 2–3, as the EDPB applies it (Guidelines 01/2022 on the right of access, §160)
and the ICO describes it: the day of receipt does not count, the period ends on the same date of
the following month (or that month's last day), and a last day falling on a Saturday, Sunday or
public holiday moves to the next working day. CCPA, VCDPA, CPA and LGPD count calendar days.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsar.calendars import (
    _ONE_DAY,
    _resolve_place,
    add_working_days,
    default_timezone,
    is_working_day,
    next_working_day,
)
from dsar.enums import Regime, RequestKind
from dsar.errors import DeadlineError
from dsar.uslaw import OPT_OUT_BUSINESS_DAYS, US_ONLY_KINDS, US_REGIMES

__all__ = [
    "AppealDeadlines",
    "ClockStop",
    "Deadlines",
    "add_months",
    "add_working_days",
    "appeal_deadlines",
    "compute_deadlines",
    "default_timezone",
    "is_working_day",
    "next_working_day",
    "parse_regime",
    "receipt_date",
]


# Months counted by Reg. 1182/71 for the EU GDPR and the UK GDPR (Art. 12(3)).
_MONTH_REGIMES = frozenset({Regime.GDPR, Regime.UK_GDPR})
# CCPA (11 CCR §7021(b)), VCDPA (§59.1-577(B)) and CPA (§6-1-1306(4)): 45 days, one extension of 45.
# Connecticut (§ 42-518(c)) and Texas (§ 541.052) count the same; a business's own policy for
# consumers no state law protects follows the CCPA's periods (see its register).
_US_STATE_REGIMES = US_REGIMES
_US_RESPONSE_DAYS = 45
_US_EXTENDED_DAYS = 90
_US_ACKNOWLEDGE_BUSINESS_DAYS = 10
# LGPD Art. 19 II: a full answer within 15 days; the law provides no extension.
_LGPD_RESPONSE_DAYS = 15

_REGIME_ALIASES = {"cpra": Regime.CCPA, "ukgdpr": Regime.UK_GDPR, "uk": Regime.UK_GDPR}

# fmt: on


@dataclass(frozen=True)
class ClockStop:
    """Days on which the clock was suspended, both dates included, in the controller's calendar.

    The span runs from the day the controller asked the subject for information it needs
    (identity, clarification) to the day the answer arrived (EDPB 01/2022 §159; UK DPA 2018
    s.54(3C) as the model). A stop still open is passed with ``end`` set to today.
    """

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise DeadlineError(
                f"clock stop ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()})"
            )


@dataclass(frozen=True)
class Deadlines:
    """The dates one request must meet; all are calendar dates in ``timezone``."""

    regime: Regime
    received_on: date
    timezone: str
    due_date: date
    extended_due_date: date | None
    extension_notice_by: date | None
    acknowledge_by: date | None
    unrolled_due_date: date

    def to_dict(self) -> dict[str, str | None]:
        """ISO-formatted dates, for JSON output and storage."""

        def iso(day: date | None) -> str | None:
            return day.isoformat() if day is not None else None

        return {
            "regime": self.regime.value,
            "received_on": self.received_on.isoformat(),
            "timezone": self.timezone,
            "due_date": self.due_date.isoformat(),
            "extended_due_date": iso(self.extended_due_date),
            "extension_notice_by": iso(self.extension_notice_by),
            "acknowledge_by": iso(self.acknowledge_by),
        }


def parse_regime(value: str) -> Regime:
    """Read a regime name as a person types it ("GDPR", "uk_gdpr", "ccpa")."""
    key = value.strip().lower().replace("_", "-")
    try:
        return Regime(key)
    except ValueError:
        if key in _REGIME_ALIASES:
            return _REGIME_ALIASES[key]
    valid = ", ".join(regime.value for regime in Regime)
    raise DeadlineError(f"unknown regime {value!r}; expected one of: {valid}")


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # ValueError: a malformed key such as an absolute path.
        raise DeadlineError(
            f"unknown time zone {tz!r}; expected a tz database name such as 'Europe/Vienna'"
        ) from exc


def receipt_date(received_at: datetime, tz: str) -> date:
    """The calendar day of receipt in the controller's zone (EDPB 01/2022 §159–160).

    An instant without a UTC offset is ambiguous: it could be a day early or late, so it is
    refused rather than guessed.
    """
    if not isinstance(received_at, datetime):
        raise DeadlineError("received_at must be a datetime with a UTC offset")
    if received_at.tzinfo is None or received_at.utcoffset() is None:
        raise DeadlineError(
            "received_at must include a UTC offset (e.g. 2026-06-09T22:30:00+00:00); "
            "a naive time cannot be placed on the controller's calendar"
        )
    return received_at.astimezone(_zone(tz)).date()


def add_months(day: date, months: int) -> date:
    """The same date ``months`` later, or that month's last day if it has no such date.

    Reg. 1182/71 Art. 3(2)(c): 31 January plus one month is 28 (or 29) February.
    """
    year, month_index = divmod(day.year * 12 + (day.month - 1) + months, 12)
    month = month_index + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _paused_days(clock_stops: Sequence[ClockStop], received_on: date) -> int:
    """Distinct days covered by the stops; overlapping stops are merged so no day counts twice."""
    total = 0
    current: tuple[date, date] | None = None
    for stop in sorted(clock_stops, key=lambda s: (s.start, s.end)):
        if stop.start < received_on:
            raise DeadlineError(
                f"clock stop starts ({stop.start.isoformat()}) before the request was received "
                f"({received_on.isoformat()})"
            )
        if current is not None and stop.start <= current[1] + _ONE_DAY:
            current = (current[0], max(current[1], stop.end))
            continue
        if current is not None:
            total += (current[1] - current[0]).days + 1
        current = (stop.start, stop.end)
    if current is not None:
        total += (current[1] - current[0]).days + 1
    return total


def compute_deadlines(
    *,
    regime: Regime | str,
    received_at: datetime,
    country: str,
    subdivision: str | None = None,
    tz: str | None = None,
    clock_stops: Sequence[ClockStop] = (),
    kind: RequestKind | str | None = None,
) -> Deadlines:
    """Every deadline of one request, counted from the moment it reached the controller.

    ``country``/``subdivision`` name the controller's place: its public holidays move a
    deadline and its zone fixes the receipt day unless ``tz`` is given. ``clock_stops`` only
    affect GDPR and UK GDPR; see the comments below for the other regimes. ``kind`` matters
    only for US opt-outs and limits, which have a shorter period of their own.
    """
    parsed = parse_regime(regime)
    code, subdiv = _resolve_place(country, subdivision)
    zone_name = tz if tz is not None else default_timezone(code, subdiv)
    received_on = receipt_date(received_at, zone_name)

    if parsed in _MONTH_REGIMES:
        # Art. 12(3) GDPR / UK GDPR: one month, extendable by two further months; the subject
        # must be told of an extension within the first month. Paused days are added before
        # the weekend/holiday roll so that the roll always lands on a working day.
        paused = timedelta(days=_paused_days(clock_stops, received_on))
        unrolled = add_months(received_on, 1) + paused
        due = next_working_day(unrolled, country=code, subdivision=subdiv)
        extended = next_working_day(
            add_months(received_on, 3) + paused, country=code, subdivision=subdiv
        )
        return Deadlines(
            regime=parsed,
            received_on=received_on,
            timezone=zone_name,
            due_date=due,
            extended_due_date=extended,
            extension_notice_by=due,
            acknowledge_by=None,
            unrolled_due_date=unrolled,
        )

    if parsed in _US_STATE_REGIMES and kind is not None and RequestKind(kind) in US_ONLY_KINDS:
        # 11 CCR § 7026(f), § 7027(g): an opt-out of sale/sharing or a limit on sensitive
        # personal information is honoured as soon as feasibly possible, and no later than 15
        # business days from receipt (§ 7001: Monday to Friday without the holidays of the
        # controller's place — the federal ones for a business that names no state). No
        # extension and no receipt confirmation: the request is carried out, not answered.
        # The same period is applied under the other states' laws, whose 45 days it meets.
        due = add_working_days(received_on, OPT_OUT_BUSINESS_DAYS, country=code, subdivision=subdiv)
        return Deadlines(
            regime=parsed,
            received_on=received_on,
            timezone=zone_name,
            due_date=due,
            extended_due_date=None,
            extension_notice_by=None,
            acknowledge_by=None,
            unrolled_due_date=due,
        )

    if parsed in _US_STATE_REGIMES:
        # 11 CCR §7021(b): the 45 calendar days run from receipt "regardless of time required
        # to verify the request"; Virginia and Colorado provide no suspension either, so clock
        # stops are ignored. The receipt day itself is not counted (as in Cal. Civ. Code §10).
        # A 45th or 90th day on a weekend or holiday is deliberately NOT moved to the next
        # business day: the statutes speak of calendar days, and answering a day or two early
        # is never late, whereas rolling on a reading a regulator may not share could be.
        # The 10-business-day receipt confirmation is required by 11 CCR §7021(a) in
        # California; Virginia and Colorado do not require one, so for them it is a
        # good-practice date computed the same way.
        due = received_on + timedelta(days=_US_RESPONSE_DAYS)
        return Deadlines(
            regime=parsed,
            received_on=received_on,
            timezone=zone_name,
            due_date=due,
            extended_due_date=received_on + timedelta(days=_US_EXTENDED_DAYS),
            extension_notice_by=due,
            acknowledge_by=add_working_days(
                received_on, _US_ACKNOWLEDGE_BUSINESS_DAYS, country=code, subdivision=subdiv
            ),
            unrolled_due_date=due,
        )

    # LGPD Art. 19 II: a full answer within 15 (calendar) days of the request, with no
    # extension and no suspension for verification in the text, so clock stops are ignored.
    due = received_on + timedelta(days=_LGPD_RESPONSE_DAYS)
    return Deadlines(
        regime=parsed,
        received_on=received_on,
        timezone=zone_name,
        due_date=due,
        extended_due_date=None,
        extension_notice_by=None,
        acknowledge_by=None,
        unrolled_due_date=due,
    )


@dataclass(frozen=True)
class AppealDeadlines:
    """When a business must decide a consumer's appeal of a denied request."""

    received_on: date
    due_date: date
    extended_due_date: date | None


def appeal_deadlines(
    *, appeal_days: int, extension_days: int, received_at: datetime, tz: str
) -> AppealDeadlines:
    """The decision date of an appeal received at ``received_at`` (in the business's zone).

    Va. Code § 59.1-577(C) and Conn. Gen. Stat. § 42-518(d): within 60 days of receipt;
    C.R.S. § 6-1-1306(3): within 45 days, extendable by 60 further days. As for the requests
    themselves, the statutes count calendar days, the day of receipt not counted, and a last
    day on a weekend is not moved.
    """
    received_on = receipt_date(received_at, tz)
    due = received_on + timedelta(days=appeal_days)
    extended = due + timedelta(days=extension_days) if extension_days else None
    return AppealDeadlines(received_on=received_on, due_date=due, extended_due_date=extended)
