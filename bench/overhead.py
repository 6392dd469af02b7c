"""Orchestration overhead: 200 access requests through the engine vs a plain httpx script.

The script makes exactly the calls the connectors make for an access request (Shopify customer
search and orders, Klaviyo profile filter, lists and events, the Mailchimp member), one request
after another with the three processors concurrently, reusing one client per processor; the
emulators answer in 50 ms. The engine carries out the same 200 requests, also one after another,
through the Prefect flow (``process_request``, the API warm) and through :mod:`engine.steps`
directly. The emulators' call logs prove that all three made the same calls. Should the
Prefect path not finish the 200 within three minutes, it stops there and the other two paths
carry out exactly the requests it did, so that the suite keeps to its time.

Rate limits are compressed a hundredfold on both sides (``time_scale=0.01``): the limiters stay
in the engine's path, but Klaviyo's 60-per-minute lists endpoint does not set the pace.

``--profile`` also records where the engine's time goes (pyinstrument, if installed) into
``bench/profiles/``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    run_plain,
    scaled_connectors,
    submit,
    use_prefect,
)
from bench.emulators import NAMES, Emulators, serve_emulators
from bench.plain import PlainScript, subjects

LATENCY = 0.05
TIME_SCALE = 0.01
#: No new round of requests starts after this long, so that the whole suite keeps to its ten
#: minutes on a slow machine; every path has then carried out the same requests.
MAX_SECONDS = 270.0
RATIO = Spec("overhead_ratio", 1.5, "x httpx script", "lower")
RATIO_PER_RUN = Spec("overhead_ratio_per_run", 1.5, "x httpx script", "lower")
RATIO_PLAIN = Spec("overhead_ratio_plain", 1.5, "x httpx script", "lower")
SPECS = (RATIO, RATIO_PER_RUN, RATIO_PLAIN)
#: Requests per round; the batch path carries out each round in one flow run.
ROUND = 25
PROFILES = Path(__file__).resolve().parent / "profiles"


# ------------------------------------------------------------------------------------------
# The plain script
# ------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------


def _stored_emails(request_ids: Sequence[str]) -> list[str]:
    """The addresses as the engine stored them (normalised), which is what it sends."""
    from dsar.models import Request
    from dsar.store import session_scope

    with session_scope() as session:
        return [session.get(Request, r).email for r in request_ids]  # type: ignore[union-attr]


@dataclass
class Contender:
    """One way of carrying out the requests: how, its wall time and its calls so far."""

    label: str
    run: Callable[[Sequence[str]], list[str]]
    seconds: float = 0.0
    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def once(self, emulators: Emulators, subjects: Sequence[str]) -> None:
        """Carry out a round of requests, timing it; the calls come from the emulators' logs."""
        before = emulators.calls()
        with Stopwatch() as watch:
            statuses = self.run(subjects)
        calls = emulators.calls().minus(before)
        self.seconds += watch.seconds
        if set(statuses) != {"completed"}:
            raise RuntimeError(f"{self.label}: requests ended {sorted(set(statuses))}")
        if calls.all_throttled:
            raise RuntimeError(f"{self.label}: the emulators throttled; the comparison is unfair")
        for name in NAMES:
            for (method, path), n in calls.requests[name].items():
                self.calls[(name, method, path)] += n


def _one_at_a_time(run: Callable[[str], str]) -> Callable[[Sequence[str]], list[str]]:
    return lambda items: [run(item) for item in items]


def _flow(request_id: str) -> str:
    """One ``process-request`` flow run, as ``dsar run ID`` starts it."""
    from flows.embedded import run_request

    return asyncio.run(run_request(request_id))


def _batch(request_ids: Sequence[str]) -> list[str]:
    """One ``process-requests`` flow run for the round, as ``dsar run ID ID …`` starts it."""
    from flows.embedded import run_requests

    outcomes = asyncio.run(run_requests(request_ids))
    return [outcomes[request_id] for request_id in request_ids]


def _plain(request_id: str) -> str:
    return asyncio.run(run_plain(request_id))


def _profile(
    label: str, request_ids: Sequence[str], run: Callable[[Sequence[str]], list[str]]
) -> None:
    """Where the engine's time goes, as pyinstrument sees it, into ``bench/profiles/``."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("  (pyinstrument is not installed: pip install pyinstrument to profile)")
        return
    profiler = Profiler(interval=0.001)
    profiler.start()
    run(request_ids)
    profiler.stop()
    PROFILES.mkdir(exist_ok=True)
    path = PROFILES / f"overhead-{label}.txt"
    session = profiler.last_session
    shares = _self_time_by_package(session.root_frame()) if session is not None else {}
    summary = "\n".join(
        f"{seconds / len(request_ids) * 1000:8.1f} ms/request  {package}"
        for package, seconds in sorted(shares.items(), key=lambda item: -item[1])
        if seconds / len(request_ids) >= 0.001
    )
    path.write_text(
        f"Self time by package, per request ({len(request_ids)} requests):\n{summary}\n\n"
        + profiler.output_text(unicode=False, color=False, show_all=False)
    )
    print(f"  profile of {len(request_ids)} requests ({label}): {path}")
    print("\n".join(f"    {line}" for line in summary.splitlines()[:12]))


def _self_time_by_package(root: Any) -> dict[str, float]:
    """Seconds spent in each package's own code (not in what it calls), from a profile.

    Time in a leaf counts for the package of the nearest real frame; the event loop waiting
    in ``selectors`` (for the processors, Prefect's API server, timers) counts apart.
    """
    shares: dict[str, float] = {}
    stack: list[tuple[Any, str]] = [(root, "?")]
    while stack:
        frame, inherited = stack.pop()
        package = _package_of(frame) or inherited
        if frame.children:
            stack.extend((child, package) for child in frame.children)
            continue
        if package == "stdlib:selectors":
            package = "(waiting: network, Prefect's API server)"
        shares[package] = shares.get(package, 0.0) + float(frame.time)
    return shares


def _package_of(frame: Any) -> str | None:
    """``prefect``, ``sqlalchemy``, ``dsar``…: the top-level package of a frame's code."""
    path = str(frame.file_path or "")
    if not path or path.startswith("<"):
        return None
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    root = Path(__file__).resolve().parent.parent
    if path.startswith(str(root)):
        return Path(path).relative_to(root).parts[0]
    if "/lib/python3" in path:
        return "stdlib:" + path.split("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
    return path


def measure(*, quick: bool, profile: bool = False) -> list[Figure]:
    """Run the benchmark and return its figures."""
    from dsar.enums import RequestKind

    count = 10 if quick else 200
    emails = subjects(count)
    with (
        serve_emulators(
            faults={"latency": LATENCY}, customers=count, time_scale=TIME_SCALE
        ) as emulators,
        engine_home(dict(emulators.env)) as home,
        scaled_connectors(TIME_SCALE),
    ):
        use_prefect(home)
        with Stopwatch() as startup:
            _flow(submit(RequestKind.ACCESS, emails[:1])[0])
        print(f"  warm-up (starts Prefect's local API): {startup.seconds:.1f} s")
        batch_ids, flow_ids, plain_ids = (submit(RequestKind.ACCESS, emails) for _ in range(3))
        stored = _stored_emails(batch_ids)
        script = PlainScript()
        batch, flow, plain, direct = (
            Contender("Prefect, one flow run per round", _batch),
            Contender("Prefect, one flow run per request", _one_at_a_time(_flow)),
            Contender("engine.steps", _one_at_a_time(_plain)),
            Contender("httpx script", _one_at_a_time(script.access)),
        )
        done = 0
        with Stopwatch() as total:
            # The paths take turns round by round: a change of load on a shared machine then
            # falls on all of them alike.
            for start in range(0, count, ROUND):
                if total.elapsed > MAX_SECONDS:
                    break
                end = start + ROUND
                batch.once(emulators, batch_ids[start:end])
                flow.once(emulators, flow_ids[start:end])
                plain.once(emulators, plain_ids[start:end])
                direct.once(emulators, stored[start:end])
                done = min(end, count)
        script.close()
        paths = (batch, flow, plain, direct)
        for path in paths:
            print(
                f"  {path.label}: {done} requests, {path.seconds:.1f} s, "
                f"{sum(path.calls.values())} calls"
            )
        same = all(path.calls == direct.calls for path in paths)
        print(f"  same calls on every path: {'yes' if same else 'NO'}")
        if profile:
            for label, run in (
                ("prefect-batch", _batch),
                ("prefect", _one_at_a_time(_flow)),
                ("plain", _one_at_a_time(_plain)),
            ):
                _profile(label, submit(RequestKind.ACCESS, emails[: min(count, ROUND)]), run)
    note = "" if same else "; the paths made different calls"
    per = 1000 / done
    script_ms = direct.seconds * per
    return [
        RATIO.figure(
            rounded(batch.seconds / direct.seconds),
            f"Prefect, one process-requests run per {ROUND} requests "
            f"{batch.seconds * per:.0f} ms/request vs script {script_ms:.0f} ms/request, "
            f"over {done} requests in rounds{note}",
        ),
        RATIO_PER_RUN.figure(
            rounded(flow.seconds / direct.seconds),
            f"Prefect, one process-request run per request {flow.seconds * per:.0f} ms/request",
        ),
        RATIO_PLAIN.figure(
            rounded(plain.seconds / direct.seconds),
            f"engine.steps directly {plain.seconds * per:.0f} ms/request{note}",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.overhead [--quick] [--profile] [--json PATH]``."""
    options = parse_options("overhead", argv, _arguments)
    print("orchestration overhead (access requests, engine vs plain httpx)")
    figures = measure(quick=options.quick, profile=bool(options.extra["profile"]))
    return finish(figures, options)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", action="store_true", help="write pyinstrument profiles to bench/profiles/"
    )


if __name__ == "__main__":
    sys.exit(main())
