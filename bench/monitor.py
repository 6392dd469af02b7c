"""The deadline monitor at scale: one scan over 1,000,000 open requests in SQLite.

The requests are copies of one request the engine itself stored (so every column holds what
the engine writes), multiplied in the database by an ``INSERT … SELECT`` over a recursive CTE:
received evenly over the last 31 days, so their deadlines fall evenly over the next month and
about a third lie inside the monitor's 10-day reminder horizon; half await manual tasks, four
in ten wait for identity verification, one in ten is being worked on (touched ten minutes ago).

The figures are the wall time of one :func:`dsar.monitor.scanning.scan` and the peak of the Python
memory it allocates (``tracemalloc``, in a second scan: tracing slows the code it watches). The
same scan over a tenth of the rows shows whether memory stays flat as the rows grow. The scan
counts in the database and reads only the rows it shows (``max_rows``), so the rows it reads
stay the same at both sizes while the items it counts grow tenfold.

No notice has been sent in this database (it is the first pass over it), so the scan's lookups
of sent notices find nothing; where every request near its deadline was already reminded, each
lookup descends the notices' index and the pass takes longer.
"""

from __future__ import annotations

import gc
import resource
import sqlite3
import sys
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    Figure,
    Spec,
    Stopwatch,
    engine_home,
    finish,
    parse_options,
    rounded,
    submit,
)

SECONDS = Spec("monitor_seconds_1m", 1.0, "s", "lower")
#: Flat memory: a scan that held even one row in a hundred as objects would pass this.
PEAK = Spec("monitor_peak_mib_1m", 16.0, "MiB", "lower")
SPECS = (SECONDS, PEAK)

#: Status of the i-th copy by ``i % 10``, as SQLAlchemy stores the enum (its member name).
_STATUS = (
    "CASE WHEN c.i % 10 < 5 THEN 'AWAITING_MANUAL' "
    "WHEN c.i % 10 < 9 THEN 'VERIFYING' ELSE 'IN_PROGRESS' END"
)


def populate(database: Path, template_id: str, *, first: int, last: int, today: str) -> None:
    """Copy the template request as rows ``first``..``last`` (ids and keys made unique)."""
    with sqlite3.connect(database) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(request)")]
        made = {
            "id": "printf('%032x', c.i)",
            "idempotency_key": "'bench:' || c.i",
            "email": "'person' || c.i || '@example.com'",
            "status": _STATUS,
            "received_at": "c.received_on || ' 09:00:00.000000'",
            "received_on": "c.received_on",
            "due_date": "c.due",
            "effective_due_date": "c.due",
            "extension_notice_by": "c.due",
            "created_at": "c.received_on || ' 09:00:00.000000'",
            "updated_at": (
                "CASE WHEN c.i % 10 = 9 THEN :active ELSE c.received_on || ' 09:00:00.000000' END"
            ),
        }
        select = ", ".join(made.get(c, f"t.{c}") for c in columns)
        active = (datetime.now(UTC) - timedelta(minutes=10)).replace(tzinfo=None)
        db.execute(
            f"""
            INSERT INTO request ({", ".join(columns)})
            WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last),
            days(i, received_on) AS (SELECT i, date(:today, '-' || (i % 31) || ' days') FROM n),
            copies(i, received_on, due) AS (
                SELECT i, received_on, date(received_on, '+1 month') FROM days
            )
            SELECT {select} FROM copies AS c, (SELECT * FROM request WHERE id = :template) AS t
            """,  # noqa: S608 - column names come from the schema, values are bound
            {
                "first": first,
                "last": last,
                "today": today,
                "template": template_id,
                "active": active.isoformat(sep=" "),
            },
        )
        db.execute("ANALYZE")
    with sqlite3.connect(database) as db:
        # A steady database has its write-ahead log folded back in; a pass over a fresh
        # gigabyte of WAL would measure the bulk load, not the monitor.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _scan(policy: Any) -> Any:
    from dsar.monitor import scan
    from dsar.store import session_scope

    now = datetime.now(UTC)
    with session_scope() as session:
        return scan(session, today=now.date(), now=now, policy=policy)


def _pass(rows: int, policy: Any) -> tuple[float, float, float, int, int]:
    """Seconds of one scan, its traced peak MiB, the RSS growth MiB, the rows it read, and the
    items it counted."""
    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Stopwatch() as watch:
        report = _scan(policy)
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    del report
    gc.collect()
    tracemalloc.start()
    report = _scan(policy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    found = {str(kind): count for kind, count in sorted(report.totals.items())}
    print(
        f"  {rows:>9,} open requests: scan {watch.seconds:.2f} s, read {report.rows_scanned:,} "
        f"rows in {report.batches} batches, peak {peak / 2**20:.1f} MiB traced "
        f"(+{rss_growth:.1f} MiB RSS); counted {found}"
    )
    return watch.seconds, peak / 2**20, rss_growth, report.rows_scanned, sum(found.values())


def measure(*, quick: bool) -> list[Figure]:
    """Run the benchmark and return its figures."""
    try:
        from dsar.monitor import MonitorPolicy
    except ImportError:
        return [spec.missing("dsar.monitor.purge is not there yet") for spec in SPECS]
    from dsar.enums import RequestKind

    total = 100_000 if quick else 1_000_000
    small = total // 10
    with engine_home() as home:
        from dsar.store import engine_from_settings

        engine_from_settings()
        template = submit(RequestKind.ERASURE, ["template@example.com"])[0]
        database = home / "dsar.db"
        today = datetime.now(UTC).date().isoformat()
        policy = MonitorPolicy()
        with Stopwatch() as fill:
            populate(database, template, first=1, last=small, today=today)
        print(f"  inserted {small:,} requests in {fill.seconds:.1f} s")
        _, small_peak, _, _, _ = _pass(small, policy)
        with Stopwatch() as fill:
            populate(database, template, first=small + 1, last=total, today=today)
        print(f"  inserted {total - small:,} more in {fill.seconds:.1f} s")
        seconds, peak, _, rows, items = _pass(total, policy)
    label = "1m" if not quick else "1m (quick: 100k)"
    return [
        SECONDS.figure(
            rounded(seconds),
            f"one scan of {total:,} open requests: {items:,} items counted in the database, "
            f"{rows:,} rows read [{label}]",
        ),
        PEAK.figure(
            rounded(peak, 1),
            f"traced peak; {small_peak:.1f} MiB over {small:,} requests (flat memory: "
            f"x{peak / small_peak:.2f} for x10 rows)",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.monitor [--quick] [--json PATH]``."""
    options = parse_options("monitor", argv)
    print("deadline monitor at scale (open requests in SQLite)")
    return finish(measure(quick=options.quick), options)


if __name__ == "__main__":
    sys.exit(main())
