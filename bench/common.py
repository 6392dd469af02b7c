"""What every benchmark shares: its figures, an isolated engine home, requests and runners.

A benchmark module measures in its own process (``python -m bench.<name> --json PATH``), so
that Prefect's settings are in place before Prefect is imported, memory figures start clean,
and Prefect's local API server ends with the process. It reports :class:`Figure` values; the
runner in :mod:`bench.__main__` collects them into a table and ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dsar.enums import RequestKind

Better = Literal["lower", "higher"]

#: The controller whose shipped register the benchmarks use (Shopify, Klaviyo, Mailchimp).
CONTROLLER = "lunexxa"


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``value`` is ``None`` when it could not be measured."""

    name: str
    value: float | None
    target: float
    unit: str
    better: Better
    note: str = ""

    @property
    def passed(self) -> bool | None:
        """Whether the value meets the target (information only; ``None`` if not measured)."""
        if self.value is None:
            return None
        return self.value <= self.target if self.better == "lower" else self.value >= self.target

    def as_json(self) -> dict[str, Any]:
        """The ``results.json`` entry."""
        return {
            "value": self.value,
            "target": self.target,
            "unit": self.unit,
            "better": self.better,
        }

    def to_wire(self) -> dict[str, Any]:
        """Everything, for the runner process."""
        return {"name": self.name, **self.as_json(), "note": self.note}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Figure:
        """The inverse of :meth:`to_wire`."""
        return cls(
            name=str(data["name"]),
            value=None if data["value"] is None else float(data["value"]),
            target=float(data["target"]),
            unit=str(data["unit"]),
            better="lower" if data["better"] == "lower" else "higher",
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class Spec:
    """What a figure measures against: its name, target, unit and direction."""

    name: str
    target: float
    unit: str
    better: Better

    def figure(self, value: float | None, note: str = "") -> Figure:
        """The figure with this spec and ``value``."""
        return Figure(self.name, value, self.target, self.unit, self.better, note)

    def missing(self, reason: str) -> Figure:
        """The figure, not measured, saying why."""
        return self.figure(None, f"not measured: {reason}")


def rounded(value: float, digits: int = 3) -> float:
    """A figure as printed and stored: three significant decimals are plenty."""
    return round(value, digits)


def median(values: Sequence[float]) -> float:
    """The median, the figure least moved by one slow run."""
    return float(statistics.median(values))


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by the nearest-rank method, as load tools report p99."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, min(len(ordered), round(q * len(ordered) + 0.5)))
    return ordered[rank - 1]


# ------------------------------------------------------------------------------------------
# Running one benchmark module
# ------------------------------------------------------------------------------------------


@dataclass
class Options:
    """The command line every benchmark module takes."""

    quick: bool = False
    json_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def parse_options(
    prog: str,
    argv: Sequence[str] | None = None,
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> Options:
    """``--quick`` (smaller sizes), ``--json PATH`` (where the runner wants the figures), and
    the module's own options added by ``extra`` (found in :attr:`Options.extra`)."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.{prog}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    if extra is not None:
        extra(parser)
    args = vars(parser.parse_args(argv))
    quick, json_path = bool(args.pop("quick")), args.pop("json")
    return Options(quick=quick, json_path=json_path, extra=args)


def finish(figures: Sequence[Figure], options: Options) -> int:
    """Print the figures and hand them to the runner; exit status 0."""
    for figure in figures:
        shown = "not measured" if figure.value is None else f"{figure.value:g} {figure.unit}"
        print(f"  {figure.name} = {shown} (target {figure.target:g}, {figure.better} is better)")
        if figure.note:
            print(f"    {figure.note}")
    if options.json_path is not None:
        options.json_path.write_text(json.dumps([f.to_wire() for f in figures], indent=2))
    return 0


class Stopwatch:
    """Wall time of a block, in seconds (``time.perf_counter``)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    @property
    def elapsed(self) -> float:
        """Seconds since the block started (inside the block)."""
        return time.perf_counter() - self._start

    def __enter__(self) -> Stopwatch:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start


# ------------------------------------------------------------------------------------------
# An isolated engine
# ------------------------------------------------------------------------------------------


@contextmanager
def engine_home(env: Mapping[str, str] | None = None) -> Iterator[Path]:
    """A fresh ``DSAR_HOME`` in a temporary folder, the engine's settings pointing into it.

    E-mails go to the outbox folder (no SMTP), logging is at WARNING as the CLI's default, and
    ``env`` (e.g. the emulators' addresses) is set on top. Everything is restored and removed
    on exit.
    """
    from dsar.logging import configure_logging
    from dsar.settings import get_settings

    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="dsar-bench-") as folder:
        home = Path(folder)
        os.environ.update(
            {
                "DSAR_HOME": str(home),
                "DSAR_DATABASE_URL": "",
                "DSAR_SMTP_URL": "",
                "DSAR_LOG_LEVEL": "WARNING",
                "DSAR_PUBLIC_URL": "https://privacy.lunexxa.example",
                **(env or {}),
            }
        )
        get_settings.cache_clear()
        configure_logging(level="WARNING")
        try:
            yield home
        finally:
            os.environ.clear()
            os.environ.update(saved)
            get_settings.cache_clear()


def use_prefect(home: Path) -> None:
    """Prefect's embedded settings under ``home``, as ``dsar run`` sets them (before import)."""
    from flows.runtime import prepare_prefect_env

    prepare_prefect_env(home)


def submit(
    kind: RequestKind, emails: Sequence[str], *, details: Mapping[str, Any] | None = None
) -> list[str]:
    """Store one verified request of ``kind`` per address; returns their ids in order.

    Staff verification is recorded, so the flows pass the identity gate without mail.
    """
    from dsar.enums import Channel
    from dsar.models import RequestCreate
    from dsar.register import register_for
    from dsar.service import submit_request
    from dsar.store import session_scope

    register = register_for(CONTROLLER)
    ids: list[str] = []
    stamp = time.time_ns()
    for start in range(0, len(emails), 500):
        with session_scope() as session:
            for offset, email in enumerate(emails[start : start + 500]):
                request, _ = submit_request(
                    session,
                    create=RequestCreate(
                        controller=CONTROLLER,
                        kind=kind,
                        channel=Channel.STAFF,
                        email=email,
                        verified_by="bench: identity confirmed by staff",
                        idempotency_key=f"bench:{stamp}:{start + offset}",
                        details=dict(details or {}),
                    ),
                    register=register,
                    actor="staff:bench",
                )
                ids.append(request.id)
    return ids


# ------------------------------------------------------------------------------------------
# The engine without Prefect: engine.steps called directly
# ------------------------------------------------------------------------------------------


async def run_group(group: Sequence[tuple[str, str, str]]) -> list[str]:
    """One recipient's connector steps in order, as the flow's task layer runs them.

    A transient error that outlived the HTTP layer's retries is recorded as the step's failure
    (the flow would retry the task first; a benchmark counts it instead).
    """
    from connectors.errors import TransientError
    from engine import (
        record_failure,
        run_connector_step,
    )

    statuses = []
    for step_id, _recipient, _action in group:
        try:
            statuses.append(await run_connector_step(step_id))
        except TransientError as exc:
            record_failure(step_id, exc)
            statuses.append("failed")
    return statuses


async def run_connector_steps(request_id: str) -> list[str]:
    """Every connector step of a planned request, recipients concurrently."""
    from engine import (
        connector_groups,
    )

    groups = connector_groups(request_id)
    results = await asyncio.gather(*(run_group(g) for g in groups))
    return [status for statuses in results for status in statuses]


@dataclass
class PlainTimes:
    """Where the plain path's wall time went, in seconds."""

    gate_and_plan: float = 0.0
    connectors: float = 0.0
    finalize: float = 0.0

    @property
    def total(self) -> float:
        """The whole request."""
        return self.gate_and_plan + self.connectors + self.finalize


async def run_plain(request_id: str, times: PlainTimes | None = None) -> str:
    """Carry out a request with :mod:`engine.steps` alone: the flow's work without Prefect.

    The same sequence as ``flows.process.process_request``: identity gate, plan, connector
    steps (recipients concurrently), asynchronous jobs, Art. 19 notices, answer, portability
    transmission; then the loop's connectors are closed, as the flow closes them.
    """
    from dsar.settings import get_settings
    from engine import (
        close_connectors,
        finalize,
        identity_gate,
        kind_of,
        manual_steps,
        notify_manual_step,
        pending_steps,
        poll_pending_step,
        start_and_plan,
        transmit_portability,
    )

    times = times if times is not None else PlainTimes()
    loop = asyncio.get_running_loop()
    try:
        start = time.perf_counter()
        gate = await identity_gate(request_id)
        if not gate.passed:
            return gate.status
        start_and_plan(request_id)
        planned = time.perf_counter()
        await run_connector_steps(request_id)
        deadline = loop.time() + get_settings().async_wait_seconds
        await asyncio.gather(
            *(
                poll_pending_step(step_id, deadline=deadline)
                for step_id, _ in pending_steps(request_id)
            )
        )
        executed = time.perf_counter()
        await asyncio.gather(
            *(notify_manual_step(step_id) for step_id, _ in manual_steps(request_id))
        )
        status = finalize(request_id)
        if kind_of(request_id) is RequestKind.PORTABILITY and status == "completed":
            await transmit_portability(request_id)
        done = time.perf_counter()
        times.gate_and_plan += planned - start
        times.connectors += executed - planned
        times.finalize += done - executed
        return status
    finally:
        await close_connectors()


# ------------------------------------------------------------------------------------------
# Connectors with time-scaled limiters
# ------------------------------------------------------------------------------------------


@contextmanager
def scaled_connectors(time_scale: float) -> Iterator[Callable[..., Any]]:
    """Make the engine build its connectors with limiters scaled by ``time_scale``.

    ``engine.context.connector_for`` looks ``connectors.registry.build_connector`` up on every
    call; for the ``with`` block it builds with the registry's ``time_scale`` option. Yields
    the builder.
    """
    import connectors.registry as registry
    from dsar.settings import Settings

    def build(name: str, settings: Settings, *, transport: Any = None) -> Any:
        return original(name, settings, transport=transport, time_scale=time_scale)

    original = registry.build_connector
    registry.build_connector = build  # type: ignore[assignment]
    try:
        yield build
    finally:
        registry.build_connector = original
