"""Intake throughput: signed contact-form posts on loopback, committed before the answer.

The intake service (:func:`dsar.intake.app.create_app`, a no-op dispatcher, the per-source limit
raised out of the way since every post comes from 127.0.0.1) is served by uvicorn from a
thread on a free port. A load script posts 2,000 signed deliveries (or as many as 30 seconds
allow), 8 at a time, each a new access request that the service stores in SQLite (WAL, as the
engine configures it) before it answers 202. The same app with the contact-form handler
replaced by one that answers 202 at once is the baseline: what HTTP, routing and the load
script cost by themselves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from bench.common import (
    CONTROLLER,
    Figure,
    Spec,
    engine_home,
    finish,
    parse_options,
    quantile,
    rounded,
)

PATH = "/webhooks/contact-form"
SECRET = "bench-contact-form-secret"  # noqa: S105 - a throwaway secret for a loopback run
CONCURRENCY = 8
#: The load stops starting posts after this long, whatever is left of the 2,000.
MAX_SECONDS = 30.0
#: Targets of our own: a burst of a few hundred form posts a minute is a very busy shop.
RPS = Spec("intake_rps", 50.0, "req/s", "higher")
P99 = Spec("intake_p99_ms", 250.0, "ms", "lower")
FRACTION = Spec("intake_rps_fraction", 0.5, "of immediate", "higher")
SPECS = (RPS, P99, FRACTION)


@dataclass(frozen=True)
class Load:
    """What one load run saw."""

    posts: int
    seconds: float
    latencies: tuple[float, ...]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        """Answered posts per second."""
        return self.posts / self.seconds

    @property
    def p99_ms(self) -> float:
        """The 99th percentile latency in milliseconds."""
        return quantile(self.latencies, 0.99) * 1000


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn from a thread on a free loopback port; yields its base URL."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http="h11",
        ws="none",
        lifespan="off",
        log_config=None,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="bench-intake", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the intake server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def _delivery(index: int, run: str) -> tuple[bytes, dict[str, str]]:
    from dsar.notify import SIGNATURE_HEADER, sign_payload

    body = json.dumps(
        {
            "kind": "access",
            "email": f"bench.{run}.{index}@example.com",
            "name": "Bench Person",
            "controller": CONTROLLER,
            "language": "en",
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign_payload(SECRET, body, int(time.time())),
    }
    return body, headers


async def load(base_url: str, *, posts: int, concurrency: int, max_seconds: float) -> Load:
    """Post ``posts`` signed deliveries, ``concurrency`` at a time, stopping at ``max_seconds``."""
    run = str(time.time_ns())
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = iter(range(posts))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            for index in queue:
                if time.perf_counter() - start > max_seconds:
                    return
                body, headers = _delivery(index, run)
                sent = time.perf_counter()
                response = await client.post(PATH, content=body, headers=headers)
                latencies.append(time.perf_counter() - sent)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    return Load(len(latencies), seconds, tuple(latencies), statuses)


def immediate(app: FastAPI) -> FastAPI:
    """The same app with the contact-form handler answering 202 before doing anything."""
    from fastapi.responses import JSONResponse
    from starlette.routing import BaseRoute

    def keep(route: BaseRoute) -> bool:
        return getattr(route, "path", None) != PATH

    app.router.routes[:] = [r for r in app.router.routes if keep(r)]

    @app.post(PATH, status_code=202)
    async def accepted() -> JSONResponse:
        return JSONResponse({"status": "received"}, status_code=202)

    return app


def _stored() -> int:
    from sqlmodel import func, select

    from dsar.enums import Channel
    from dsar.models import Request
    from dsar.store import session_scope

    with session_scope() as session:
        return int(
            session.exec(select(func.count()).where(Request.channel == Channel.CONTACT_FORM)).one()
        )


def measure(*, quick: bool) -> list[Figure]:
    """Run the benchmark and return its figures."""
    try:
        from dsar.intake import NoopDispatcher, RateLimit, create_app
    except ImportError:
        return [spec.missing("dsar.intake.app is not there yet") for spec in SPECS]
    posts = 300 if quick else 2000
    unlimited = RateLimit(per_minute=1e9, burst=1_000_000)
    results: dict[str, Load] = {}
    with engine_home({"DSAR_WEBHOOK_SECRET": SECRET}):
        from dsar.store import engine_from_settings

        engine_from_settings()
        for label, app in (
            ("immediate", immediate(create_app(dispatcher=NoopDispatcher(), rate_limit=unlimited))),
            ("durable", create_app(dispatcher=NoopDispatcher(), rate_limit=unlimited)),
        ):
            with serving(app) as url:
                asyncio.run(load(url, posts=50, concurrency=CONCURRENCY, max_seconds=30))
                result = asyncio.run(
                    load(url, posts=posts, concurrency=CONCURRENCY, max_seconds=MAX_SECONDS)
                )
            results[label] = result
            print(
                f"  {label}: {result.posts} posts in {result.seconds:.1f} s, "
                f"{result.rps:.0f} req/s, p50 {quantile(result.latencies, 0.5) * 1000:.1f} ms, "
                f"p99 {result.p99_ms:.1f} ms, statuses {result.statuses}"
            )
        stored = _stored()
    durable, baseline = results["durable"], results["immediate"]
    accepted = durable.statuses.get(202, 0)
    print(f"  stored {stored} requests (202 answers: {accepted}, with the 50 warm-up posts)")
    note = (
        f"{durable.posts} signed posts in {durable.seconds:.1f} s, {CONCURRENCY} at a time, "
        "committed before the answer"
    )
    if set(durable.statuses) != {202}:
        note += f"; answers {durable.statuses}"
    return [
        RPS.figure(rounded(durable.rps, 1), note),
        P99.figure(rounded(durable.p99_ms, 1), note),
        FRACTION.figure(
            rounded(durable.rps / baseline.rps),
            f"the handler answering at once: {baseline.rps:.0f} req/s, p99 "
            f"{baseline.p99_ms:.1f} ms",
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.intake [--quick] [--json PATH]``."""
    options = parse_options("intake", argv)
    print("intake throughput (signed contact-form posts on loopback)")
    return finish(measure(quick=options.quick), options)


if __name__ == "__main__":
    sys.exit(main())
