"""Fan-out latency: one access request against three processors that each answer in 50 ms.

The subject (the sandbox persona Maria) is known to Shopify, Klaviyo and the newsletter
(Mailchimp). The connectors run concurrently, one per recipient, and each makes its calls in
sequence, so no engine can answer faster than the processor with the most calls:
``critical path = max(calls per processor) × latency``, the calls counted from the emulators'
call logs. The figure is the engine's wall time for the whole request over that critical path.

The Prefect path (``flows.process.process_request``) is measured with Prefect's local API
already running (a warm-up request starts it); the plain path calls :mod:`engine.steps` directly
(:func:`bench.common.run_plain`), and its connector phase is shown apart.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from bench.common import (
    Figure,
    PlainTimes,
    Spec,
    Stopwatch,
    engine_home,
    finish,
    median,
    parse_options,
    rounded,
    submit,
    use_prefect,
)
from bench.emulators import NAMES, CallSnapshot, Emulators, serve_emulators

LATENCY = 0.05
SUBJECT = "maria.muster@example.com"
RATIO = Spec("fanout_ratio", 1.2, "x critical path", "lower")
RATIO_STEPS = Spec("fanout_ratio_steps", 1.2, "x critical path", "lower")
RATIO_PLAIN = Spec("fanout_ratio_plain", 1.2, "x critical path", "lower")
RATIO_CONNECTORS = Spec("fanout_ratio_connectors", 1.2, "x critical path", "lower")
SPECS = (RATIO, RATIO_STEPS, RATIO_PLAIN, RATIO_CONNECTORS)


def critical_path(calls: CallSnapshot) -> tuple[float, dict[str, int]]:
    """Seconds of the longest chain of dependent calls, and the calls per processor."""
    per_processor = {name: calls.total(name) for name in NAMES}
    return max(per_processor.values()) * LATENCY, per_processor


def _recorded_phase(request_id: str) -> float:
    """Seconds from the first connector step's recorded start to the last one's finish."""
    from sqlmodel import col, select

    from dsar.models import Step
    from dsar.plan import MANUAL
    from dsar.store import session_scope

    with session_scope() as session:
        rows = session.exec(
            select(Step.started_at, Step.finished_at).where(
                Step.request_id == request_id, col(Step.connector) != MANUAL
            )
        ).all()
    starts = [start for start, _ in rows if start is not None]
    ends = [end for _, end in rows if end is not None]
    if not starts or not ends:
        raise RuntimeError("the request's connector steps carry no start or finish")
    return (max(ends) - min(starts)).total_seconds()


def _prefect_run(emulators: Emulators, request_id: str) -> tuple[float, float, float]:
    """(wall seconds, critical path seconds, recorded connector phase seconds) of one request
    through the Prefect flow."""
    from flows.embedded import run_request

    before = emulators.calls()
    with Stopwatch() as watch:
        status = asyncio.run(run_request(request_id))
    calls = emulators.calls().minus(before)
    path, counts = critical_path(calls)
    _check(status, calls)
    phase = _recorded_phase(request_id)
    print(
        f"  prefect: {watch.seconds * 1000:.0f} ms (connector steps {phase * 1000:.0f}), "
        f"calls {counts}"
    )
    return watch.seconds, path, phase


def _plain_run(emulators: Emulators, request_id: str) -> tuple[PlainTimes, float]:
    """(phase times, critical path seconds) of one request through the step functions."""
    from bench.common import run_plain

    before = emulators.calls()
    times = PlainTimes()
    status = asyncio.run(run_plain(request_id, times))
    calls = emulators.calls().minus(before)
    path, counts = critical_path(calls)
    _check(status, calls)
    print(
        f"  plain: {times.total * 1000:.0f} ms (gate+plan {times.gate_and_plan * 1000:.0f}, "
        f"connectors {times.connectors * 1000:.0f}, answer {times.finalize * 1000:.0f}), "
        f"calls {counts}"
    )
    return times, path


def _check(status: str, calls: CallSnapshot) -> None:
    if status != "completed":
        raise RuntimeError(f"the access request ended {status}, not completed")
    if calls.all_throttled:
        raise RuntimeError("an emulator throttled the request; the figure would be wrong")


def measure(*, quick: bool) -> list[Figure]:
    """Run the benchmark and return its figures."""
    from dsar.enums import RequestKind

    runs = 2 if quick else 5
    with (
        serve_emulators(faults={"latency": LATENCY}, customers=200) as emulators,
        engine_home(dict(emulators.env)) as home,
    ):
        use_prefect(home)
        from flows.process import process_request  # after Prefect's settings are in place

        with Stopwatch() as startup:
            status = asyncio.run(process_request(submit(RequestKind.ACCESS, [SUBJECT])[0]))
        print(f"  warm-up (starts Prefect's local API): {startup.seconds:.1f} s, {status}")
        flow_ids = submit(RequestKind.ACCESS, [SUBJECT] * runs)
        plain_ids = submit(RequestKind.ACCESS, [SUBJECT] * runs)
        prefect, plain = [], []
        for flow_id, plain_id in zip(flow_ids, plain_ids, strict=True):
            # Alternating, so that a change of load on a shared machine falls on both paths.
            prefect.append(_prefect_run(emulators, flow_id))
            plain.append(_plain_run(emulators, plain_id))
    flow_ratio = median([wall / path for wall, path, _ in prefect])
    phase_ratio = median([phase / path for _, path, phase in prefect])
    plain_ratio = median([t.total / path for t, path in plain])
    connector_ratio = median([t.connectors / path for t, path in plain])
    path_ms = prefect[0][1] * 1000
    return [
        RATIO.figure(
            rounded(flow_ratio),
            f"Prefect flow, median of {runs}: {median([w for w, _, _ in prefect]) * 1000:.0f} ms "
            f"over a critical path of {path_ms:.0f} ms",
        ),
        RATIO_STEPS.figure(
            rounded(phase_ratio),
            "the same Prefect runs, connector steps only (first recorded start to last "
            f"recorded finish): {median([p for _, _, p in prefect]) * 1000:.0f} ms",
        ),
        RATIO_PLAIN.figure(
            rounded(plain_ratio),
            f"engine.steps directly, whole request, median of {runs}: "
            f"{median([t.total for t, _ in plain]) * 1000:.0f} ms",
        ),
        RATIO_CONNECTORS.figure(
            rounded(connector_ratio),
            "engine.steps directly, connector phase only (gather over recipients): "
            f"{median([t.connectors for t, _ in plain]) * 1000:.0f} ms",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.fanout [--quick] [--json PATH]``."""
    options = parse_options("fanout", argv)
    print("fan-out latency (access request, 3 processors at 50 ms)")
    return finish(measure(quick=options.quick), options)


if __name__ == "__main__":
    sys.exit(main())
