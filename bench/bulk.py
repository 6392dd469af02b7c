"""Bulk erasure against the processors' rate limits: how close the engine runs to the ceiling.

A burst of erasure requests (1,000 people known to Shopify and Klaviyo) is stored and planned,
then every connector step runs at once through :func:`engine.run_connector_step`, one
recipient's steps in order as the flow runs them. The emulators enforce Shopify's GraphQL cost
bucket (2,000 points, 100 restored per second) and Klaviyo's per-endpoint burst/steady windows;
the connectors pace themselves with their client-side limiters. Both run on a compressed clock
(``time_scale``) so that the run lasts about a minute.

The ceiling is the fastest any client could go: for each limited counter, the least time the
limits allow for what the run actually spent, the initial bucket or window allowance granted
for free; the largest of these is the bound. Shopify's is the GraphQL cost the emulator charged
for every query and mutation of the run (``/_sandbox/graphql-cost``) less the bucket's
capacity, over the restore rate; Klaviyo's come from the calls per endpoint in the call log.
The figure is that bound over the measured time, which equals achieved calls/s over the
ceiling's calls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from bench.common import (
    Figure,
    Spec,
    Stopwatch,
    engine_home,
    finish,
    parse_options,
    rounded,
    run_group,
    scaled_connectors,
    submit,
)
from bench.emulators import CallSnapshot, Emulators, serve_emulators

CUSTOMERS = 2000
FRACTION = Spec("bulk_ceiling_fraction", 0.9, "of ceiling", "higher")
THROTTLED = Spec("bulk_throttled", 0, "429s", "lower")
FAILED = Spec("bulk_failed", 0, "requests", "lower")
SPECS = (FRACTION, THROTTLED, FAILED)
#: Requests carried out at the same time, as a deployment's concurrency limit would allow.
IN_FLIGHT = 200


@dataclass(frozen=True)
class Bound:
    """The least nominal seconds the limits allow for the calls charged to one counter.

    ``points`` is the cost charged, for a counter of cost points (Shopify GraphQL).
    """

    counter: str
    calls: int
    seconds: float
    points: int | None = None


@dataclass(frozen=True)
class Charged:
    """GraphQL cost points the Shopify emulator charged, and for how many requests (those
    that ran: a throttled or refused request is charged nothing)."""

    points: int
    requests: int

    def minus(self, earlier: Charged) -> Charged:
        """What was charged between ``earlier`` and this reading."""
        return Charged(self.points - earlier.points, self.requests - earlier.requests)


def charged(emulators: Emulators) -> Charged:
    """The Shopify emulator's running total of charged cost (``/_sandbox/graphql-cost``)."""
    body = httpx.get(f"{emulators.urls['shopify']}/_sandbox/graphql-cost", timeout=10.0).json()
    return Charged(points=int(body["points"]), requests=int(body["requests"]))


def subjects(count: int, *, seed: int = 1234) -> list[str]:
    """Addresses of ``count`` seeded shop customers who also have a Klaviyo profile.

    The emulators seed the same data from the same seed, so these people exist there.
    """
    from sandbox.seed import PERSONAS, seed_sandbox

    data = seed_sandbox(seed=seed, customers=CUSTOMERS)
    profiles = {p.email.lower() for p in data.klaviyo.profiles.values() if p.email}
    personas = {p.email for p in PERSONAS.values()}
    emails = [
        c.email
        for c in sorted(data.shopify.customers.values(), key=lambda c: c.id)
        if c.email and c.email.lower() in profiles and c.email.lower() not in personas
    ]
    if len(emails) < count:
        raise RuntimeError(f"the seed has only {len(emails)} people in Shopify and Klaviyo")
    return emails[:count]


def bounds(calls: CallSnapshot, cost: Charged) -> list[Bound]:
    """Per limited counter, the least nominal time its calls need under the published limits.

    Shopify's bucket starts full and restores at a steady rate, so charging ``cost.points``
    takes at least ``(points - capacity) / restore_rate`` seconds, whatever the order and mix
    of queries and mutations.
    """
    from sandbox.ratelimit import KlaviyoLimits, ShopifyLimits

    shop, klav = ShopifyLimits(), KlaviyoLimits()
    graphql = sum(n for (_, path), n in calls.requests["shopify"].items() if "graphql" in path)
    result = [
        Bound(
            "Shopify GraphQL cost",
            graphql,
            max(0.0, cost.points - shop.graphql_capacity) / shop.graphql_restore_rate,
            points=cost.points,
        )
    ]
    for (method, path), n in sorted(calls.requests["klaviyo"].items()):
        tier = klav.tier_for(path)
        burst = max(0.0, n - tier.burst) / tier.burst * klav.burst_window
        steady = max(0.0, n - tier.steady) / tier.steady * klav.steady_window
        result.append(Bound(f"Klaviyo {method} {path}", n, max(burst, steady)))
    return result


def _failed_requests(request_ids: Sequence[str]) -> int:
    from sqlmodel import col, select

    from dsar.enums import StepStatus
    from dsar.models import Step
    from dsar.store import session_scope

    with session_scope() as session:
        failed = session.exec(
            select(Step.request_id).where(
                col(Step.request_id).in_(request_ids), Step.status == StepStatus.FAILED
            )
        ).all()
    return len(set(failed))


def measure(*, quick: bool, in_flight: int = IN_FLIGHT) -> list[Figure]:
    """Run the benchmark and return its figures; ``in_flight`` 0 starts every request at once."""
    from dsar.enums import RequestKind
    from engine import close_connectors, connector_groups, start_and_plan

    count = 100 if quick else 1000
    seconds = 10.0 if quick else 60.0
    time_scale = seconds / count  # the binding counters need about ``count`` nominal seconds
    emails = subjects(count)
    with (
        serve_emulators(customers=CUSTOMERS, time_scale=time_scale) as emulators,
        engine_home(dict(emulators.env)),
        scaled_connectors(time_scale),
    ):
        with Stopwatch() as setup:
            request_ids = submit(RequestKind.ERASURE, emails)
            for request_id in request_ids:
                start_and_plan(request_id)
            groups_of = [connector_groups(r) for r in request_ids]
            groups = [g for request_groups in groups_of for g in request_groups]
        print(
            f"  stored and planned {count} erasures in {setup.seconds:.1f} s "
            f"({len(groups)} recipient groups, time scale {time_scale:g}, "
            f"{in_flight or 'all'} requests in flight)"
        )

        async def drive() -> list[list[str]]:
            try:
                if not in_flight:
                    return await asyncio.gather(*(run_group(g) for g in groups))
                pool = asyncio.Semaphore(in_flight)

                async def one(request_groups: list[list[tuple[str, str, str]]]) -> list[str]:
                    async with pool:
                        done = await asyncio.gather(*(run_group(g) for g in request_groups))
                    return [status for group in done for status in group]

                return await asyncio.gather(*(one(g) for g in groups_of))
            finally:
                await close_connectors()

        before, cost_before = emulators.calls(), charged(emulators)
        cpu = time.process_time()
        with Stopwatch() as run:
            statuses = asyncio.run(drive())
        cpu = time.process_time() - cpu
        calls = emulators.calls().minus(before)
        cost = charged(emulators).minus(cost_before)
        failed = _failed_requests(request_ids)
    outcomes: dict[str, int] = {}
    for status in (s for group in statuses for s in group):
        outcomes[status] = outcomes.get(status, 0) + 1
    limits = bounds(calls, cost)
    binding = max(limits, key=lambda b: b.seconds)
    floor = binding.seconds * time_scale
    fraction = floor / run.seconds
    total = calls.all_requests
    print(
        f"  ran {sum(outcomes.values())} steps in {run.seconds:.1f} s: {outcomes}; the engine "
        f"used {cpu:.1f} s of CPU ({cpu / count * 1000:.0f} ms per erasure)"
    )
    for bound in limits:
        points = "" if bound.points is None else f" charged {bound.points} points,"
        print(
            f"    {bound.counter}: {bound.calls} calls,{points} "
            f"at least {bound.seconds * time_scale:.1f} s under the limits"
        )
    print(
        f"  {total} calls: {total / run.seconds:.1f} calls/s achieved, "
        f"ceiling {total / floor:.1f} calls/s (bound by {binding.counter}); "
        f"{calls.all_throttled} throttled (429), {failed} requests failed"
    )
    return [
        FRACTION.figure(
            rounded(fraction),
            f"{count} erasures in {run.seconds:.1f} s; the limits allow {floor:.1f} s "
            f"({binding.counter}, {binding.calls} calls)",
        ),
        THROTTLED.figure(float(calls.all_throttled)),
        FAILED.figure(float(failed)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.bulk [--quick] [--json PATH]``."""
    options = parse_options("bulk", argv, _arguments)
    print("bulk erasure against the rate limits")
    in_flight = int(options.extra["in_flight"])
    return finish(measure(quick=options.quick, in_flight=in_flight), options)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--in-flight",
        type=int,
        default=IN_FLIGHT,
        help="requests carried out at once (0: all at once; default %(default)s)",
    )


if __name__ == "__main__":
    sys.exit(main())
