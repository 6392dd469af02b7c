"""``python -m bench``: run every benchmark, print the table, write ``bench/results.json``.

Each benchmark runs in its own process (``python -m bench.<name>``) under a time limit, so
that one that hangs or crashes costs its own figures only, Prefect's local API server and the
emulators end with it, and memory figures start from a clean interpreter. The table's
pass/fail column compares each value with its target for information; nothing here fails a
build. ``--only`` takes a benchmark's name or one of its figures' names, and may be repeated.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.common import Figure, Spec

RESULTS = Path(__file__).resolve().parent / "results.json"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark module and how long its full run may take (the quick run: a third)."""

    name: str
    seconds: int

    @property
    def specs(self) -> tuple[Spec, ...]:
        """The figures the module reports."""
        module = importlib.import_module(f"bench.{self.name}")
        return tuple(module.SPECS)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("fanout", 90),
    Benchmark("bulk", 150),
    Benchmark("overhead", 360),
    Benchmark("monitor", 120),
    Benchmark("intake", 90),
)


def _placeholders(benchmark: Benchmark, reason: str) -> list[Figure]:
    return [spec.missing(reason) for spec in benchmark.specs]


def run_one(benchmark: Benchmark, *, quick: bool, console: Console) -> list[Figure]:
    """Run one benchmark module in a child process and read back its figures."""
    limit = benchmark.seconds // 3 if quick else benchmark.seconds
    with tempfile.TemporaryDirectory(prefix="dsar-bench-run-") as folder:
        out = Path(folder) / "figures.json"
        command = [sys.executable, "-m", f"bench.{benchmark.name}", "--json", str(out)]
        if quick:
            command.append("--quick")
        console.rule(f"[bold]{benchmark.name}")
        started = time.monotonic()
        # A session of its own, so that on a timeout the whole group (the emulators' and
        # Prefect's server processes included) can be stopped by the child's id.
        child = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our module
        try:
            code = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            _stop(child)
            return _placeholders(benchmark, f"exceeded its {limit} s limit")
        finally:
            console.print(f"  ({benchmark.name} took {time.monotonic() - started:.0f} s)")
        if code != 0 or not out.exists():
            return _placeholders(benchmark, f"the benchmark exited with {code}")
        return [Figure.from_wire(item) for item in json.loads(out.read_text())]


def _stop(child: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        return


def table(figures: Sequence[Figure]) -> Table:
    """The figures with their targets; pass/fail is information only."""
    result = Table(title="dsar benchmarks")
    for column in ("name", "value", "target", "unit", "better", "vs target"):
        result.add_column(column, justify="right" if column in ("value", "target") else "left")
    for figure in figures:
        verdict = {True: "[green]pass", False: "[red]fail", None: "[yellow]not measured"}
        result.add_row(
            figure.name,
            "—" if figure.value is None else f"{figure.value:g}",
            f"{figure.target:g}",
            figure.unit,
            figure.better,
            verdict[figure.passed],
        )
    return result


def selected(only: Sequence[str] | None) -> list[Benchmark]:
    """The benchmarks named (by their own or a figure's name) in ``only``; all by default."""
    if not only:
        return list(BENCHMARKS)
    chosen = [b for b in BENCHMARKS if b.name in only or any(f.name in only for f in b.specs)]
    known = {b.name for b in BENCHMARKS} | {f.name for b in BENCHMARKS for f in b.specs}
    unknown = sorted(set(only) - known)
    if unknown:
        raise SystemExit(f"unknown benchmark or figure: {', '.join(unknown)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run, print, write; exit 0 whatever the figures say."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="a benchmark or figure name (repeatable)"
    )
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    benchmarks = selected(args.only)
    load = os.getloadavg()
    started = time.monotonic()
    console.print(
        f"dsar benchmarks, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"load average {load[0]:.2f}{' (quick)' if args.quick else ''}"
    )
    figures: list[Figure] = []
    for benchmark in benchmarks:
        figures.extend(run_one(benchmark, quick=args.quick, console=console))
    console.rule()
    console.print(table(figures))
    for figure in figures:
        if figure.note:
            console.print(f"[dim]{figure.name}: {figure.note}")
    RESULTS.write_text(json.dumps({f.name: f.as_json() for f in figures}, indent=2) + "\n")
    console.print(
        f"wrote {RESULTS} in {time.monotonic() - started:.0f} s "
        f"(load average now {os.getloadavg()[0]:.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
