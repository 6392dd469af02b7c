"""Statutory deadlines on real calendars: Reg. 1182/71 months, ICO months, CCPA/VCDPA/CPA/LGPD days.

Every expected date below was worked out by hand from the rule named in its id and checked
against a printed calendar and the ``holidays`` package's public-holiday lists.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsar.calendars import add_working_days, default_timezone, is_working_day, next_working_day
from dsar.deadlines import (
    ClockStop,
    Deadlines,
    add_months,
    compute_deadlines,
    parse_regime,
    receipt_date,
)
from dsar.enums import Regime
from dsar.errors import DeadlineError, InputError

_FIELDS = (
    "received_on",
    "due_date",
    "unrolled_due_date",
    "extended_due_date",
    "extension_notice_by",
    "acknowledge_by",
)


def vector(
    label: str,
    *,
    regime: str,
    at: str,
    country: str,
    subdivision: str | None = None,
    tz: str | None = None,
    stops: tuple[tuple[str, str], ...] = (),
    **expected: str | None,
) -> Any:
    """One table row: the request, and the dates (ISO or None) the law gives for it."""
    assert set(expected) <= set(_FIELDS), expected
    kwargs = {
        "regime": regime,
        "received_at": datetime.fromisoformat(at),
        "country": country,
        "subdivision": subdivision,
        "tz": tz,
        "clock_stops": [ClockStop(date.fromisoformat(a), date.fromisoformat(b)) for a, b in stops],
    }
    dates = {k: date.fromisoformat(v) if v else None for k, v in expected.items()}
    return pytest.param(kwargs, dates, id=label)


VIENNA: dict[str, Any] = {"regime": "gdpr", "country": "AT", "subdivision": "9"}
ENGLAND: dict[str, Any] = {"regime": "uk-gdpr", "country": "GB", "subdivision": "ENG"}
SCOTLAND: dict[str, Any] = {"regime": "uk-gdpr", "country": "GB", "subdivision": "SCT"}
CALIFORNIA: dict[str, Any] = {"regime": "ccpa", "country": "US", "subdivision": "CA"}

VECTORS = [
    # --- EDPB 01/2022 §160 examples (Reg. 1182/71 Art. 3(2)(c)) -----------------------------
    vector("EDPB-160 5 Mar -> 5 Apr (2027, a Monday)", **VIENNA, at="2027-03-05T10:00:00+01:00",
           received_on="2027-03-05", due_date="2027-04-05", unrolled_due_date="2027-04-05"),
    vector("EDPB-160 31 Aug -> 30 Sep (2026, a Wednesday)", **VIENNA,
           at="2026-08-31T09:00:00+02:00", due_date="2026-09-30"),
    vector("EDPB-160 5 Mar 2026 -> 5 Apr Easter Sunday -> Easter Monday -> Tue 7 Apr", **VIENNA,
           at="2026-03-05T09:00:00+01:00", unrolled_due_date="2026-04-05",
           due_date="2026-04-07"),
    # --- Month ends (Art. 3(2)(c): no such date -> last day of the month) -----------------
    vector("1182/71 31 Jan 2028 -> 29 Feb (leap year)", **VIENNA, at="2028-01-31T12:00:00+01:00",
           due_date="2028-02-29", unrolled_due_date="2028-02-29"),
    vector("1182/71 31 Jan 2027 -> 28 Feb Sun -> Mon 1 Mar (common year)", **VIENNA,
           at="2027-01-31T12:00:00+01:00", unrolled_due_date="2027-02-28",
           due_date="2027-03-01"),
    vector("1182/71 31 Mar -> 30 Apr", **VIENNA, at="2026-03-31T12:00:00+02:00",
           due_date="2026-04-30", unrolled_due_date="2026-04-30"),
    vector("1182/71 31 Aug 2028 -> 30 Sep Sat -> Mon 2 Oct", **VIENNA,
           at="2028-08-31T12:00:00+02:00", unrolled_due_date="2028-09-30",
           due_date="2028-10-02"),
    vector("1182/71 30 Apr 2026 -> 30 May Sat -> Mon 1 Jun", **VIENNA,
           at="2026-04-30T12:00:00+02:00", unrolled_due_date="2026-05-30",
           due_date="2026-06-01"),
    vector("1182/71 31 Dec 2026 -> 31 Jan Sun -> Mon 1 Feb", **VIENNA,
           at="2026-12-31T12:00:00+01:00", unrolled_due_date="2027-01-31",
           due_date="2027-02-01"),
    # --- Austrian public holidays (Art. 3(4)) ---------------------------------------------
    vector("AT Easter Monday 6 Apr 2026 -> Tue 7 Apr", **VIENNA, at="2026-03-06T12:00:00+01:00",
           due_date="2026-04-07"),
    vector("AT Easter Sunday+Monday 28/29 Mar 2027 -> Tue 30 Mar", **VIENNA,
           at="2027-02-28T12:00:00+01:00", unrolled_due_date="2027-03-28",
           due_date="2027-03-30"),
    vector("AT Whit Monday 25 May 2026 -> Tue 26 May", **VIENNA, at="2026-04-25T12:00:00+02:00",
           due_date="2026-05-26"),
    vector("AT Corpus Christi 4 Jun 2026 -> Fri 5 Jun", **VIENNA, at="2026-05-04T12:00:00+02:00",
           due_date="2026-06-05"),
    vector("AT Corpus Christi 27 May 2027 -> Fri 28 May", **VIENNA,
           at="2027-04-27T12:00:00+02:00", due_date="2027-05-28"),
    vector("AT Ascension 14 May 2026 -> Fri 15 May", **VIENNA, at="2026-04-14T12:00:00+02:00",
           due_date="2026-05-15"),
    vector("AT Labour Day Fri 1 May 2026 -> Mon 4 May", **VIENNA, at="2026-04-01T12:00:00+02:00",
           due_date="2026-05-04"),
    vector("AT Assumption Fri 15 Aug 2025 -> Mon 18 Aug", **VIENNA,
           at="2025-07-15T12:00:00+02:00", due_date="2025-08-18"),
    vector("AT National Day Mon 26 Oct 2026 -> Tue 27 Oct", **VIENNA,
           at="2026-09-26T12:00:00+02:00", due_date="2026-10-27"),
    vector("AT All Saints Mon 1 Nov 2027 -> Tue 2 Nov", **VIENNA, at="2027-10-01T12:00:00+02:00",
           due_date="2027-11-02"),
    vector("AT Immaculate Conception Tue 8 Dec 2026 -> Wed 9 Dec", **VIENNA,
           at="2026-11-08T12:00:00+01:00", due_date="2026-12-09"),
    vector("AT Immaculate Conception Wed 8 Dec 2027 -> Thu 9 Dec", **VIENNA,
           at="2027-11-08T12:00:00+01:00", due_date="2027-12-09"),
    vector("AT 25/26 Dec 2026 Fri/Sat + Sun -> Mon 28 Dec", **VIENNA,
           at="2026-11-25T12:00:00+01:00", due_date="2026-12-28"),
    vector("AT 25/26 Dec 2027 Sat/Sun -> Mon 27 Dec", **VIENNA, at="2027-11-25T12:00:00+01:00",
           due_date="2027-12-27"),
    vector("AT New Year Fri 1 Jan 2027 + weekend -> Mon 4 Jan", **VIENNA,
           at="2026-12-01T12:00:00+01:00", due_date="2027-01-04"),
    vector("AT Epiphany Tue 6 Jan 2026 -> Wed 7 Jan", **VIENNA, at="2025-12-06T12:00:00+01:00",
           due_date="2026-01-07"),
    vector("AT Epiphany Wed 6 Jan 2027 -> Thu 7 Jan", **VIENNA, at="2026-12-06T12:00:00+01:00",
           due_date="2027-01-07"),
    vector("AT Good Friday 3 Apr 2026 is not a public holiday -> stays", **VIENNA,
           at="2026-03-03T12:00:00+01:00", due_date="2026-04-03"),
    vector("AT Christmas Eve Thu 24 Dec 2026 is not a public holiday -> stays", **VIENNA,
           at="2026-11-24T12:00:00+01:00", due_date="2026-12-24"),
    # --- Receipt day in the controller's zone (EDPB §159) ---------------------------------
    vector("EDPB-159 22:30 UTC 9 Jun is 10 Jun in Vienna -> 10 Jul", **VIENNA,
           at="2026-06-09T22:30:00+00:00", received_on="2026-06-10", due_date="2026-07-10"),
    vector("EDPB-159 22:30 UTC 9 Jun is still 9 Jun in London -> 9 Jul", **ENGLAND,
           at="2026-06-09T22:30:00+00:00", received_on="2026-06-09", due_date="2026-07-09"),
    vector("EDPB-159 explicit tz=UTC overrides the Vienna default -> 9 Jul", **VIENNA, tz="UTC",
           at="2026-06-09T22:30:00+00:00", received_on="2026-06-09", due_date="2026-07-09"),
    vector("DST Vienna 23:30 CEST on switch day 29 Mar 2026 -> 29 Apr", **VIENNA,
           at="2026-03-29T21:30:00+00:00", received_on="2026-03-29", due_date="2026-04-29"),
    vector("DST Vienna 22:30 UTC 29 Mar 2026 is 00:30 CEST 30 Mar -> 30 Apr", **VIENNA,
           at="2026-03-29T22:30:00+00:00", received_on="2026-03-30", due_date="2026-04-30"),
    vector("DST Vienna 23:30 local 30 Mar 2026 -> 30 Apr", **VIENNA,
           at="2026-03-30T21:30:00+00:00", received_on="2026-03-30", due_date="2026-04-30"),
    vector("DST Vienna 00:30 local 31 Mar 2026 -> 30 Apr (clamped)", **VIENNA,
           at="2026-03-30T22:30:00+00:00", received_on="2026-03-31", due_date="2026-04-30"),
    vector("DST Vienna 23:30 CET on switch day 25 Oct 2026 -> 25 Nov", **VIENNA,
           at="2026-10-25T22:30:00+00:00", received_on="2026-10-25", due_date="2026-11-25"),
    vector("DST Vienna 23:00 UTC 25 Oct 2026 is midnight 26 Oct -> 26 Nov", **VIENNA,
           at="2026-10-25T23:00:00+00:00", received_on="2026-10-26", due_date="2026-11-26"),
    vector("DST Vienna 22:30 UTC 24 Oct 2026 is 00:30 CEST 25 Oct -> 25 Nov", **VIENNA,
           at="2026-10-24T22:30:00+00:00", received_on="2026-10-25", due_date="2026-11-25"),
    # --- Clock stops (EDPB §159; project rule: paused days added, then rolled) ------------
    vector("STOP single 10-12 Mar 2027 (+3) -> Thu 8 Apr", **VIENNA,
           at="2027-03-05T10:00:00+01:00", stops=(("2027-03-10", "2027-03-12"),),
           unrolled_due_date="2027-04-08", due_date="2027-04-08",
           extension_notice_by="2027-04-08"),
    vector("STOP two 10-11 + 15-16 Mar 2027 (+4) -> Fri 9 Apr", **VIENNA,
           at="2027-03-05T10:00:00+01:00",
           stops=(("2027-03-10", "2027-03-11"), ("2027-03-15", "2027-03-16")),
           due_date="2027-04-09"),
    vector("STOP overlapping 10-14 + 12-16 Mar 2027 merge to 7 days -> Mon 12 Apr", **VIENNA,
           at="2027-03-05T10:00:00+01:00",
           stops=(("2027-03-12", "2027-03-16"), ("2027-03-10", "2027-03-14")),
           unrolled_due_date="2027-04-12", due_date="2027-04-12"),
    vector("STOP 10-14 Mar 2027 (+5) lands on Sat 10 Apr -> Mon 12 Apr", **VIENNA,
           at="2027-03-05T10:00:00+01:00", stops=(("2027-03-10", "2027-03-14"),),
           unrolled_due_date="2027-04-10", due_date="2027-04-12"),
    vector("STOP one day 10 Mar 2027 (+1) -> Tue 6 Apr", **VIENNA,
           at="2027-03-05T10:00:00+01:00", stops=(("2027-03-10", "2027-03-10"),),
           due_date="2027-04-06"),
    vector("STOP extension 5 Jun 2027 Sat +3 -> Tue 8 Jun", **VIENNA,
           at="2027-03-05T10:00:00+01:00", stops=(("2027-03-10", "2027-03-12"),),
           extended_due_date="2027-06-08"),
    # --- Extension, Art. 12(3): three months from receipt, clamped and rolled -------------
    vector("EXT 5 Mar 2027 -> 5 Jun Sat -> Mon 7 Jun", **VIENNA, at="2027-03-05T10:00:00+01:00",
           due_date="2027-04-05", extended_due_date="2027-06-07",
           extension_notice_by="2027-04-05"),
    vector("EXT 30 Nov 2026 -> 28 Feb 2027 Sun (clamped) -> Mon 1 Mar", **VIENNA,
           at="2026-11-30T10:00:00+01:00", due_date="2026-12-30",
           extended_due_date="2027-03-01", extension_notice_by="2026-12-30"),
    vector("EXT 30 Nov 2027 -> 29 Feb 2028 (clamped, leap year)", **VIENNA,
           at="2027-11-30T10:00:00+01:00", due_date="2027-12-30",
           extended_due_date="2028-02-29"),
    vector("EXT 31 Mar 2026 -> 30 Jun (clamped)", **VIENNA, at="2026-03-31T10:00:00+02:00",
           extended_due_date="2026-06-30"),
    vector("EXT 26 Jul 2026 -> 26 Oct National Day -> Tue 27 Oct", **VIENNA,
           at="2026-07-26T10:00:00+02:00", due_date="2026-08-26",
           extended_due_date="2026-10-27"),
    vector("EXT 25 Sep 2026: 25 Oct Sun + National Day -> 27 Oct; 25 Dec -> Mon 28 Dec",
           **VIENNA, at="2026-09-25T10:00:00+02:00", unrolled_due_date="2026-10-25",
           due_date="2026-10-27", extended_due_date="2026-12-28"),
    # --- UK GDPR (ICO guidance) ------------------------------------------------------------
    vector("ICO 25 Nov 2024 -> 25/26 Dec bank holidays -> Fri 27 Dec", **ENGLAND,
           at="2024-11-25T10:00:00+00:00", unrolled_due_date="2024-12-25",
           due_date="2024-12-27", extended_due_date="2025-02-25", acknowledge_by=None),
    vector("ICO 31 Mar -> 30 Apr", **ENGLAND, at="2026-03-31T10:00:00+01:00",
           due_date="2026-04-30"),
    vector("ICO ENG 25 Nov 2027 -> 25-28 Dec holidays incl. substitutes -> Wed 29 Dec",
           **ENGLAND, at="2027-11-25T10:00:00+00:00", due_date="2027-12-29"),
    vector("ICO ENG Easter Monday 6 Apr 2026 -> Tue 7 Apr", **ENGLAND,
           at="2026-03-06T10:00:00+00:00", due_date="2026-04-07"),
    vector("ICO SCT Easter Monday is no holiday in Scotland -> Mon 6 Apr", **SCOTLAND,
           at="2026-03-06T10:00:00+00:00", due_date="2026-04-06"),
    vector("ICO SCT 2 Jan 2026 holiday -> Mon 5 Jan", **SCOTLAND,
           at="2025-12-02T10:00:00+00:00", due_date="2026-01-05"),
    vector("ICO ENG 2 Jan 2026 is a working day -> Fri 2 Jan", **ENGLAND,
           at="2025-12-02T10:00:00+00:00", due_date="2026-01-02"),
    vector("ICO SCT summer bank holiday 3 Aug 2026 -> Tue 4 Aug", **SCOTLAND,
           at="2026-07-03T10:00:00+01:00", due_date="2026-08-04"),
    vector("ICO ENG 3 Aug 2026 is a working day -> Mon 3 Aug", **ENGLAND,
           at="2026-07-03T10:00:00+01:00", due_date="2026-08-03"),
    vector("ICO ENG late summer bank holiday 31 Aug 2026 -> Tue 1 Sep", **ENGLAND,
           at="2026-07-31T10:00:00+01:00", due_date="2026-09-01"),
    vector("ICO SCT 31 Aug 2026 is a working day -> Mon 31 Aug", **SCOTLAND,
           at="2026-07-31T10:00:00+01:00", due_date="2026-08-31"),
    vector("ICO GB without subdivision defaults to England -> Tue 1 Sep", regime="uk-gdpr",
           country="GB", at="2026-07-31T10:00:00+01:00", due_date="2026-09-01"),
    vector("ICO SCT St Andrew's Day 30 Nov 2026 -> Tue 1 Dec", **SCOTLAND,
           at="2026-10-30T10:00:00+00:00", due_date="2026-12-01"),
    vector("ICO NIR St Patrick's Day 17 Mar 2026 -> Wed 18 Mar", regime="uk-gdpr", country="GB",
           subdivision="NIR", at="2026-02-17T10:00:00+00:00", due_date="2026-03-18"),
    vector("ICO NIR Battle of the Boyne 12 Jul 2027 -> Tue 13 Jul", regime="uk-gdpr",
           country="GB", subdivision="NIR", at="2027-06-12T10:00:00+01:00",
           due_date="2027-07-13"),
    # --- German Länder differ (Art. 3(4): holidays where the action is taken) --------------
    vector("DE-BY Corpus Christi 4 Jun 2026 -> Fri 5 Jun", regime="gdpr", country="DE",
           subdivision="BY", at="2026-05-04T10:00:00+02:00", due_date="2026-06-05"),
    vector("DE-BE no Corpus Christi -> Thu 4 Jun 2026", regime="gdpr", country="DE",
           subdivision="BE", at="2026-05-04T10:00:00+02:00", due_date="2026-06-04"),
    vector("DE-BY Epiphany 6 Jan 2027 -> Thu 7 Jan", regime="gdpr", country="DE",
           subdivision="BY", at="2026-12-06T10:00:00+01:00", due_date="2027-01-07"),
    vector("DE-BE no Epiphany -> Wed 6 Jan 2027", regime="gdpr", country="DE", subdivision="BE",
           at="2026-12-06T10:00:00+01:00", due_date="2027-01-06"),
    vector("DE-BE Women's Day 8 Mar 2027 -> Tue 9 Mar", regime="gdpr", country="DE",
           subdivision="BE", at="2027-02-08T10:00:00+01:00", due_date="2027-03-09"),
    vector("DE-BY no Women's Day -> Mon 8 Mar 2027", regime="gdpr", country="DE",
           subdivision="BY", at="2027-02-08T10:00:00+01:00", due_date="2027-03-08"),
    vector("FR Armistice 11 Nov 2026 -> Thu 12 Nov", regime="gdpr", country="FR",
           at="2026-10-11T10:00:00+02:00", due_date="2026-11-12"),
    # --- CCPA, 11 CCR §7021: 45/90 calendar days, 10 business days to confirm --------------
    vector("CCPA-7021 2 Mar 2026: +45 Thu 16 Apr, +90 Sun 31 May, ack 16 Mar", **CALIFORNIA,
           at="2026-03-02T10:00:00-08:00", received_on="2026-03-02", due_date="2026-04-16",
           unrolled_due_date="2026-04-16", extended_due_date="2026-05-31",
           extension_notice_by="2026-04-16", acknowledge_by="2026-03-16"),
    vector("CCPA-7021 45th day Sat 18 Apr 2026 is not rolled", **CALIFORNIA,
           at="2026-03-04T10:00:00-08:00", due_date="2026-04-18",
           extended_due_date="2026-06-02", acknowledge_by="2026-03-18"),
    vector("CCPA-7021 23:30 PST 2 Mar (07:30 UTC 3 Mar) counts from 2 Mar", **CALIFORNIA,
           at="2026-03-03T07:30:00+00:00", received_on="2026-03-02", due_date="2026-04-16"),
    vector("CCPA-7021 ack spans Thanksgiving + day after (CA) -> 8 Dec 2026", **CALIFORNIA,
           at="2026-11-20T10:00:00-08:00", due_date="2027-01-04",
           extended_due_date="2027-02-18", acknowledge_by="2026-12-08"),
    vector("CCPA-7021 ack spans 4 Jul 2025 -> 15 Jul", **CALIFORNIA,
           at="2025-06-30T10:00:00-07:00", due_date="2025-08-14",
           extended_due_date="2025-09-28", acknowledge_by="2025-07-15"),
    vector("CCPA-7021 ack spans observed 4 Jul (Fri 3 Jul 2026) -> 16 Jul", **CALIFORNIA,
           at="2026-07-01T10:00:00-07:00", acknowledge_by="2026-07-16"),
    vector("CCPA-7021 clock stops are ignored (45 days regardless of verification)",
           **CALIFORNIA, at="2026-03-02T10:00:00-08:00",
           stops=(("2026-03-03", "2026-03-20"),), due_date="2026-04-16",
           extended_due_date="2026-05-31"),
    # --- VCDPA §59.1-577(B), CPA §6-1-1306(4): 45 + 45 days ---------------------------------
    vector("VCDPA 1 Sep 2026: +45 Fri 16 Oct, +90 Mon 30 Nov, ack past Labor Day 16 Sep",
           regime="vcdpa", country="US", subdivision="VA", at="2026-09-01T10:00:00-04:00",
           due_date="2026-10-16", extended_due_date="2026-11-30",
           extension_notice_by="2026-10-16", acknowledge_by="2026-09-16"),
    vector("CPA 15 Jan 2026: +45 Sun 1 Mar (not rolled), +90 15 Apr, ack past MLK 30 Jan",
           regime="cpa", country="US", subdivision="CO", at="2026-01-15T10:00:00-07:00",
           due_date="2026-03-01", extended_due_date="2026-04-15", acknowledge_by="2026-01-30"),
    vector("CPA ack spans Thanksgiving (no day-after holiday in CO) -> 7 Dec 2026",
           regime="cpa", country="US", subdivision="CO", at="2026-11-20T10:00:00-07:00",
           acknowledge_by="2026-12-07"),
    # --- LGPD Art. 19 II: 15 days, no extension -------------------------------------------
    vector("LGPD-19 2 Mar 2026 -> 17 Mar, no extension", regime="lgpd", country="BR",
           at="2026-03-02T10:00:00-03:00", due_date="2026-03-17", unrolled_due_date="2026-03-17",
           extended_due_date=None, extension_notice_by=None, acknowledge_by=None),
    vector("LGPD-19 15th day Sat 21 Mar 2026 is not rolled", regime="lgpd", country="BR",
           at="2026-03-06T10:00:00-03:00", due_date="2026-03-21"),
    vector("LGPD-19 23:30 in São Paulo (02:30 UTC 3 Mar) counts from 2 Mar", regime="lgpd",
           country="BR", at="2026-03-03T02:30:00+00:00", received_on="2026-03-02",
           due_date="2026-03-17"),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "expected"), VECTORS)
def test_deadline_matches_the_legal_calendar(
    kwargs: dict[str, Any], expected: dict[str, date | None]
) -> None:
    """Each deadline equals the date the rule in the row's id gives on the real calendar."""
    result = compute_deadlines(**kwargs)
    assert {field: getattr(result, field) for field in expected} == expected


def test_vector_table_is_large_and_ids_are_unique() -> None:
    """The table keeps at least 40 distinct, named vectors."""
    ids = [param.id for param in VECTORS]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


class TestAddMonths:
    @pytest.mark.parametrize(
        ("day", "months", "expected"),
        [
            (date(2026, 3, 5), 1, date(2026, 4, 5)),
            (date(2028, 1, 31), 1, date(2028, 2, 29)),
            (date(2027, 1, 31), 1, date(2027, 2, 28)),
            (date(2026, 3, 31), 1, date(2026, 4, 30)),
            (date(2026, 12, 15), 1, date(2027, 1, 15)),
            (date(2026, 11, 30), 3, date(2027, 2, 28)),
            (date(2026, 3, 31), -1, date(2026, 2, 28)),
            (date(2026, 5, 31), 0, date(2026, 5, 31)),
        ],
    )
    def test_same_date_or_month_end(self, day: date, months: int, expected: date) -> None:
        """Reg. 1182/71 Art. 3(2)(c): same date, else the last day of that month."""
        assert add_months(day, months) == expected


class TestWorkingDays:
    def test_easter_monday_is_not_a_working_day_in_austria(self) -> None:
        """Art. 3(4): public holidays of the controller's place do not count as working days."""
        assert not is_working_day(date(2026, 4, 6), country="AT", subdivision="9")

    def test_bank_category_days_are_working_days(self) -> None:
        """Only the public category counts: Austria's Good Friday is a bank holiday only."""
        assert is_working_day(date(2026, 4, 3), country="AT", subdivision="9")

    def test_weekend_is_not_a_working_day(self) -> None:
        """Art. 3(4): Saturdays and Sundays are not working days."""
        assert not is_working_day(date(2026, 4, 4), country="AT")
        assert not is_working_day(date(2026, 4, 5), country="AT")

    def test_next_working_day_returns_a_working_day_itself(self) -> None:
        """A last day that is a working day is not moved."""
        assert next_working_day(date(2026, 4, 7), country="AT") == date(2026, 4, 7)

    def test_next_working_day_skips_weekend_and_holiday(self) -> None:
        """Easter Saturday 2026 rolls past Sunday and Easter Monday to Tuesday."""
        assert next_working_day(date(2026, 4, 4), country="AT") == date(2026, 4, 7)

    def test_add_working_days_does_not_count_the_start(self) -> None:
        """Ten business days after Monday 2 Mar 2026 (no holidays) is Monday 16 Mar."""
        assert add_working_days(date(2026, 3, 2), 10, country="US", subdivision="CA") == date(
            2026, 3, 16
        )

    def test_subdivision_names_and_case_are_normalised(self) -> None:
        """'wien' and 'eng' name the same places as '9' and 'ENG'."""
        assert not is_working_day(date(2026, 10, 26), country="at", subdivision="wien")
        assert not is_working_day(date(2026, 8, 31), country="gb", subdivision="eng")

    def test_uk_alias_uses_great_britain_with_england_default(self) -> None:
        """'UK' is read as GB, whose default calendar is England's."""
        assert not is_working_day(date(2026, 8, 31), country="UK")


class TestReceiptDate:
    def test_receipt_is_the_local_calendar_date(self) -> None:
        """EDPB §159: 22:30 UTC on 9 June is 10 June in Vienna."""
        received = datetime.fromisoformat("2026-06-09T22:30:00+00:00")
        assert receipt_date(received, "Europe/Vienna") == date(2026, 6, 10)

    def test_naive_datetime_is_refused(self) -> None:
        """A time without UTC offset cannot be placed on a calendar."""
        with pytest.raises(DeadlineError, match="received_at must include a UTC offset"):
            receipt_date(datetime(2026, 6, 9, 22, 30), "Europe/Vienna")

    def test_unknown_time_zone_is_refused(self) -> None:
        """Only tz database names are accepted."""
        received = datetime.fromisoformat("2026-06-09T22:30:00+00:00")
        with pytest.raises(DeadlineError, match="Mars/Olympus"):
            receipt_date(received, "Mars/Olympus")


class TestDefaultTimezone:
    @pytest.mark.parametrize(
        ("country", "subdivision", "expected"),
        [
            ("US", "CA", "America/Los_Angeles"),
            ("US", "VA", "America/New_York"),
            ("US", "CO", "America/Denver"),
            ("US", "NY", "America/New_York"),
            ("US", "TX", "America/Chicago"),
            ("US", "WA", "America/Los_Angeles"),
            ("US", None, "America/New_York"),
            ("GB", "SCT", "Europe/London"),
            ("GB", None, "Europe/London"),
            ("BR", None, "America/Sao_Paulo"),
            ("AT", "9", "Europe/Vienna"),
            ("DE", "BY", "Europe/Berlin"),
            ("CA", None, "America/Toronto"),
            ("AU", None, "Australia/Sydney"),
            ("ES", "CN", "Atlantic/Canary"),
        ],
    )
    def test_subdivision_zone_else_capital_zone(
        self, country: str, subdivision: str | None, expected: str
    ) -> None:
        """The controller's zone defaults to its subdivision's, else its capital's."""
        assert default_timezone(country, subdivision) == expected

    def test_every_eea_country_and_us_state_has_a_real_zone(self) -> None:
        """EU/EEA countries, CH and GB, and every US subdivision map to a tz database zone."""
        eea = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
        for country in [*eea.split(), "IS", "LI", "NO", "CH", "GB"]:
            ZoneInfo(default_timezone(country))
        for state in holidays.country_holidays("US").subdivisions:
            ZoneInfo(default_timezone("US", state))

    def test_unknown_country_is_refused(self) -> None:
        """A country without a known zone must be given an explicit zone."""
        with pytest.raises(DeadlineError, match="'XX'"):
            default_timezone("XX")


class TestErrors:
    def test_unknown_regime_lists_valid_values(self) -> None:
        """An unknown regime names every regime the engine knows."""
        with pytest.raises(DeadlineError, match="hipaa") as info:
            parse_regime("hipaa")
        assert all(regime.value in str(info.value) for regime in Regime)

    def test_unknown_country_is_named(self) -> None:
        """A country the holiday calendars do not know is refused by name."""
        with pytest.raises(DeadlineError, match="'XX'"):
            compute_deadlines(
                regime="gdpr", received_at=datetime.fromisoformat("2026-03-05T10:00Z"), country="XX"
            )

    def test_unknown_subdivision_is_named(self) -> None:
        """Austria has Länder 1..9 only."""
        with pytest.raises(DeadlineError, match="'10'"):
            compute_deadlines(
                regime="gdpr",
                received_at=datetime.fromisoformat("2026-03-05T10:00Z"),
                country="AT",
                subdivision="10",
            )

    def test_naive_datetime_is_refused(self) -> None:
        """received_at without UTC offset is refused."""
        with pytest.raises(DeadlineError, match="UTC offset"):
            compute_deadlines(regime="gdpr", received_at=datetime(2026, 3, 5, 10), country="AT")

    def test_unknown_timezone_is_refused(self) -> None:
        """An explicit controller zone must exist in the tz database."""
        with pytest.raises(DeadlineError, match="Mars/Olympus"):
            compute_deadlines(
                regime="gdpr",
                received_at=datetime.fromisoformat("2026-03-05T10:00Z"),
                country="AT",
                tz="Mars/Olympus",
            )

    def test_clock_stop_ending_before_it_starts_is_refused(self) -> None:
        """A clock stop spans start..end inclusive, so end may not precede start."""
        with pytest.raises(DeadlineError, match="before it starts"):
            ClockStop(date(2026, 3, 12), date(2026, 3, 10))

    def test_clock_stop_before_receipt_is_refused(self) -> None:
        """The clock cannot stop before it has started."""
        with pytest.raises(DeadlineError, match="before the request was received"):
            compute_deadlines(
                regime="gdpr",
                received_at=datetime.fromisoformat("2026-03-05T10:00+01:00"),
                country="AT",
                clock_stops=[ClockStop(date(2026, 3, 4), date(2026, 3, 6))],
            )

    def test_deadline_error_is_an_input_error(self) -> None:
        """Edges map DeadlineError to 'bad input' (CLI exit 2, HTTP 4xx)."""
        with pytest.raises(InputError):
            parse_regime("")


class TestParseRegime:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("gdpr", Regime.GDPR),
            ("GDPR", Regime.GDPR),
            ("uk_gdpr", Regime.UK_GDPR),
            (" UK-GDPR ", Regime.UK_GDPR),
            ("cpra", Regime.CCPA),
            (Regime.LGPD, Regime.LGPD),
        ],
    )
    def test_names_as_people_type_them(self, text: str, expected: Regime) -> None:
        """Case, surrounding blanks and '_' vs '-' do not matter."""
        assert parse_regime(text) is expected


class TestToDict:
    def test_iso_strings_and_fixed_keys(self) -> None:
        """to_dict gives ISO dates under the documented keys, None where a date does not apply."""
        result = compute_deadlines(
            regime=Regime.LGPD,
            received_at=datetime.fromisoformat("2026-03-02T10:00-03:00"),
            country="BR",
        )
        assert result.to_dict() == {
            "regime": "lgpd",
            "received_on": "2026-03-02",
            "timezone": "America/Sao_Paulo",
            "due_date": "2026-03-17",
            "extended_due_date": None,
            "extension_notice_by": None,
            "acknowledge_by": None,
        }


# --- Properties over many receipt instants ----------------------------------------------------

MONTH_PLACES = [
    ("gdpr", "AT", "9"),
    ("gdpr", "DE", "BY"),
    ("gdpr", "FR", None),
    ("uk-gdpr", "GB", "ENG"),
]
RECEIPTS = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2035, 12, 31, 23, 59, 59),
    timezones=st.timezones(),
)


@functools.cache
def _holidays(country: str, subdivision: str | None, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(
        country, subdiv=subdivision, years=year, categories=("public",)
    )


def _is_day_off(day: date, country: str, subdivision: str | None) -> bool:
    return day.weekday() >= 5 or day in _holidays(country, subdivision, day.year)


class TestMonthRegimeProperties:
    @pytest.mark.parametrize(("regime", "country", "subdivision"), MONTH_PLACES)
    @settings(max_examples=150, deadline=None)
    @given(received_at=RECEIPTS)
    def test_due_dates_are_working_days_at_most_five_days_after_the_month(
        self, regime: str, country: str, subdivision: str | None, received_at: datetime
    ) -> None:
        """The rolled date is a working day, 0–5 days after a month end ≥ receipt + 28 days."""
        result = compute_deadlines(
            regime=regime, received_at=received_at, country=country, subdivision=subdivision
        )
        assert isinstance(result, Deadlines)
        assert not _is_day_off(result.due_date, country, subdivision)
        assert result.extended_due_date is not None
        assert not _is_day_off(result.extended_due_date, country, subdivision)
        assert result.unrolled_due_date <= result.due_date
        assert result.unrolled_due_date >= result.received_on + timedelta(days=28)
        assert (result.due_date - result.unrolled_due_date).days <= 5
        assert result.extended_due_date >= result.due_date
        assert result.extension_notice_by == result.due_date

    @settings(max_examples=100, deadline=None)
    @given(received_at=RECEIPTS, offset=st.integers(0, 40), length=st.integers(0, 20))
    def test_a_clock_stop_never_brings_the_deadline_forward(
        self, received_at: datetime, offset: int, length: int
    ) -> None:
        """Paused days only ever push the Art. 12(3) deadline later, by at least their count."""
        plain = compute_deadlines(regime="gdpr", received_at=received_at, country="AT")
        start = plain.received_on + timedelta(days=offset)
        stop = ClockStop(start, start + timedelta(days=length))
        paused = compute_deadlines(
            regime="gdpr", received_at=received_at, country="AT", clock_stops=[stop]
        )
        assert paused.unrolled_due_date == plain.unrolled_due_date + timedelta(days=length + 1)
        assert paused.due_date >= plain.due_date


def test_import_is_free_of_prefect_and_http() -> None:
    """The deadline engine is a pure domain module: importing it pulls in no orchestration."""
    code = (
        "import sys, dsar.deadlines; "
        "bad = [m for m in ('prefect', 'httpx', 'sqlmodel') if m in sys.modules]; "
        "sys.exit(', '.join(bad) or None)"
    )
    completed = subprocess.run(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
