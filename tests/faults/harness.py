"""What every fault test shares: fast connectors, a batch of requests, and the re-queue.

A batch of a hundred requests is driven through the engine's step functions
(:mod:`engine.steps`) with asyncio concurrency, in the same order :mod:`flows.process` calls
them, because a hundred Prefect flow runs would take minutes. What Prefect adds on top —
task retries of transient errors — is mirrored by :func:`run_step`. The deadline monitor's
re-queue (run again what is not finished, after the processors' asynchronous jobs had their
time) is :func:`requeue_until_settled`.

Connectors are built with compressed time: their client-side rate limiters run at the
emulators' ``time_scale`` and the HTTP layer retries with millisecond back-off (the
registry's ``time_scale`` and ``retry`` options). :func:`install_fast_connectors` makes
``connectors.registry.build_connector``, which :func:`engine.context.connector_for` looks up on
every call, pass them; the crash worker (a child process) installs the same builder.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlmodel import col, select

from connectors import registry
from connectors.base import Connector
from connectors.http import RetryPolicy
from dsar import lifecycle
from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.models import Request, RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import Settings
from dsar.store import session_scope
from engine import (
    carry_out_step,
    close_connectors,
    connector_groups,
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
from sandbox.faults import Fault, FaultConfig, FaultInjector
from sandbox.mailchimp_state import subscriber_hash
from sandbox.personas import JONAS_EMAIL, MARIA_EMAIL, NEWSLETTER_ONLY_EMAIL, SHOP_ONLY_EMAIL
from sandbox.server import EMULATORS

#: The registry's own builder, kept before :func:`install_fast_connectors` replaces it.
_build_connector = registry.build_connector

#: Real seconds per nominal second in the emulators and the client-side limiters alike.
TIME_SCALE = 0.02
#: Nominal seconds until a processor's asynchronous job completes (10 ms real).
ASYNC_DELAY = 0.5
#: Generous attempts, millisecond back-off: 20 % of 5xx must not exhaust a call.
FAST_RETRY = RetryPolicy(
    max_attempts=10,
    max_elapsed=30.0,
    backoff_initial=0.002,
    backoff_max=0.02,
    retry_after_cap=0.05,
)
#: How long one run waits for the processors' jobs before leaving them to the re-queue.
POLL_SECONDS = 2.0
#: Re-queue rounds after which a request still not finished fails the test.
MAX_ROUNDS = 8
#: The kinds a batch cycles through; every subject gets exactly one request.
BATCH_KINDS = (
    RequestKind.ERASURE,
    RequestKind.ACCESS,
    RequestKind.RESTRICTION,
    RequestKind.OBJECTION,
    RequestKind.RECTIFICATION,
    RequestKind.PORTABILITY,
)
#: The personas other tests use by name; batches draw from the fabricated crowd instead.
PERSONAS = frozenset({MARIA_EMAIL, JONAS_EMAIL, NEWSLETTER_ONLY_EMAIL, SHOP_ONLY_EMAIL})

#: Side effects that change a subject's data at a processor, by emulator.
WRITES: dict[str, tuple[str, ...]] = {
    "shopify": (
        "erasure_requested",
        "customer_updated",
        "customer_deleted",
        "email_consent_updated",
        "tags_added",
        "tags_removed",
    ),
    "klaviyo": (
        "deletion_requested",
        "profile_updated",
        "suppression_requested",
        "unsuppression_requested",
        "unsubscribe_requested",
    ),
    "mailchimp": (
        "member_added",
        "member_upserted",
        "member_updated",
        "member_archived",
        "member_deleted_permanently",
    ),
}


# ------------------------------------------------------------------------------------------
# Connectors on compressed time
# ------------------------------------------------------------------------------------------


def fast_connector(
    name: str,
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    time_scale: float = TIME_SCALE,
) -> Connector:
    """The connector ``name`` with the processor's limiter at ``time_scale`` and fast retries."""
    return _build_connector(
        name, settings, transport=transport, time_scale=time_scale, retry=FAST_RETRY
    )


def install_fast_connectors(setattr_: Callable[[Any, str, Any], None] = setattr) -> None:
    """Make :func:`engine.context.connector_for` build :func:`fast_connector`\\ s.

    Tests pass ``monkeypatch.setattr`` so the registry is restored afterwards; the crash
    worker, a process of its own, passes nothing.
    """
    setattr_(registry, "build_connector", fast_connector)


def write_api_only_register(directory: Path, *, source: Path) -> Path:
    """The register at ``source`` without its manual recipients, written into ``directory``.

    The fault suite is about processors' APIs; recipients without one only add e-mail notices
    and staff tasks, which the flow suite covers, to every request of a hundred.
    """
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    data["recipients"] = [r for r in data["recipients"] if r.get("connector") != "manual"]
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / source.name
    target.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return target


# ------------------------------------------------------------------------------------------
# Emulator faults beyond FaultConfig
# ------------------------------------------------------------------------------------------


class SpikyInjector(FaultInjector):
    """A fault injector that also holds a seeded share of requests for ``spike`` real seconds.

    :class:`~sandbox.faults.FaultConfig` adds latency to every request; a spike is the rare
    request that hangs while the others flow.
    """

    def __init__(self, config: FaultConfig, *, spike_rate: float, spike: float) -> None:
        super().__init__(config)
        self._spikes = random.Random(config.seed + 1)
        self.spike_rate = spike_rate
        self.spike = spike
        self.spiked = 0

    def draw(self) -> Fault:
        """The configured fault, plus ``spike`` seconds of latency on a seeded share."""
        fault = super().draw()
        with self._lock:
            if self._spikes.random() >= self.spike_rate:
                return fault
            self.spiked += 1
        return Fault(kind=fault.kind, status=fault.status, latency=fault.latency + self.spike)


# ------------------------------------------------------------------------------------------
# A batch of requests
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One request of a batch before it is stored."""

    kind: RequestKind
    email: str
    details: dict[str, Any]


def crowd_emails(shop_emails: Iterable[str | None], *, count: int, seed: int) -> list[str]:
    """``count`` distinct addresses of seeded shop customers, drawn with ``seed``."""
    pool = sorted({e.lower() for e in shop_emails if e and e.lower() not in PERSONAS})
    return random.Random(seed).sample(pool, count)


def plan_batch(emails: Sequence[str]) -> list[Planned]:
    """One request per address, cycling through every kind."""
    batch = []
    for index, email in enumerate(emails):
        kind = BATCH_KINDS[index % len(BATCH_KINDS)]
        details: dict[str, Any] = {}
        if kind is RequestKind.RECTIFICATION:
            details = {"changes": {"last_name": f"Korrigiert-{index}"}}
        batch.append(Planned(kind=kind, email=email, details=details))
    return batch


def submit_all(batch: Iterable[Planned], *, controller: str = "lunexxa") -> list[str]:
    """Store the batch as staff-verified requests; return their ids in order."""
    register = register_for(controller)
    ids = []
    with session_scope() as session:
        for item in batch:
            request, _ = submit_request(
                session,
                create=RequestCreate(
                    controller=controller,
                    kind=item.kind,
                    channel=Channel.STAFF,
                    email=item.email,
                    verified_by="identity checked by staff",
                    details=item.details,
                ),
                register=register,
                actor="test",
            )
            ids.append(request.id)
    return ids


# ------------------------------------------------------------------------------------------
# Running requests through the step functions
# ------------------------------------------------------------------------------------------


async def run_step(step_id: str) -> str:
    """One connector step as the ``connector-step`` task runs it."""
    return await carry_out_step(step_id)


async def _run_group(group: list[tuple[str, str, str]]) -> None:
    for step_id, _, _ in group:
        await run_step(step_id)


async def process(request_id: str, *, poll_seconds: float = POLL_SECONDS) -> str:
    """Carry out one request as ``process_request`` does; returns its status afterwards."""
    gate = await identity_gate(request_id)
    if not gate.passed:
        return gate.status
    start_and_plan(request_id)
    await asyncio.gather(*(_run_group(g) for g in connector_groups(request_id)))
    deadline = asyncio.get_running_loop().time() + poll_seconds
    pending = pending_steps(request_id)
    await asyncio.gather(*(poll_pending_step(s, deadline=deadline) for s, _ in pending))
    await asyncio.gather(*(notify_manual_step(sid) for sid, _ in manual_steps(request_id)))
    status = finalize(request_id)
    if kind_of(request_id) is RequestKind.PORTABILITY and status == "completed":
        await transmit_portability(request_id)
    return status


def statuses(request_ids: Iterable[str]) -> dict[str, RequestStatus]:
    """The stored status of each request."""
    wanted = list(request_ids)
    with session_scope() as session:
        rows = session.exec(select(Request).where(col(Request.id).in_(wanted))).all()
        return {r.id: r.status for r in rows}


def _runnable(status: RequestStatus) -> bool:
    """Neither closed nor waiting only on staff: a run has work to do."""
    return status not in lifecycle.FINAL and status is not RequestStatus.AWAITING_MANUAL


def open_request_ids() -> list[str]:
    """Every stored request a run has work to do for."""
    with session_scope() as session:
        rows = session.exec(select(Request.id, Request.status)).all()
    return [rid for rid, status in rows if _runnable(RequestStatus(status))]


def unfinished(request_ids: Iterable[str]) -> list[str]:
    """Those of ``request_ids`` a run still has work to do for."""
    return [rid for rid, status in statuses(request_ids).items() if _runnable(status)]


async def run_batch(request_ids: Sequence[str], *, concurrency: int = 100) -> None:
    """One round: process every request concurrently, at most ``concurrency`` at a time."""
    gate = asyncio.Semaphore(concurrency)

    async def one(request_id: str) -> None:
        async with gate:
            await process(request_id)

    try:
        await asyncio.gather(*(one(rid) for rid in request_ids))
    finally:
        await close_connectors()


async def requeue_until_settled(request_ids: Sequence[str], *, rounds: int = MAX_ROUNDS) -> int:
    """Re-run what is unfinished, as the deadline monitor re-queues it; returns rounds used.

    Before each round the processors' asynchronous jobs get their time (the monitor runs on a
    schedule of minutes; the jobs here take milliseconds).
    """
    for used in range(1, rounds + 1):
        left = unfinished(request_ids)
        if not left:
            return used - 1
        await asyncio.sleep(ASYNC_DELAY * TIME_SCALE * 2)
        await run_batch(left)
    return rounds


# ------------------------------------------------------------------------------------------
# Reading the emulators' call logs
# ------------------------------------------------------------------------------------------


def duplicated_effects(box: Any) -> dict[str, list[tuple[str, str, int]]]:
    """Per emulator, every data-changing side effect recorded more than once for one subject."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for name, kinds in WRITES.items():
        effects = getattr(box, name).calls.snapshot()["side_effects"]
        found[name] = [
            (e["kind"], e["subject"], e["count"])
            for e in effects
            if e["kind"] in kinds and e["count"] > 1
        ]
    return found


@dataclass(frozen=True)
class Holdings:
    """Where each subject was held before any request ran: customer, profiles, membership."""

    customers: dict[str, int]
    profiles: dict[str, list[str]]
    members: set[str]

    @classmethod
    def of(cls, box: Any, emails: Iterable[str]) -> Holdings:
        """Read the emulators' seeded state for ``emails``."""
        wanted = list(emails)
        return cls(
            customers={e: c.id for e in wanted for c in box.shopify.search(f"email:{e}")},
            profiles={e: [p.id for p in box.klaviyo.find("email", e)] for e in wanted},
            members={e for e in wanted if box.mailchimp.get(e) is not None},
        )


def assert_each_erasure_once(
    box: Any, held: Holdings, erased: Iterable[str], *, processors: Iterable[str] = EMULATORS
) -> None:
    """Each subject in ``erased`` is gone from ``processors``, each asked for one erasure."""
    wanted = set(processors)
    for email in erased:
        if "shopify" in wanted:
            customer = box.shopify.customers[held.customers[email]]
            assert customer.erased
            assert box.shopify.calls.effects("erasure_requested", str(customer.id)) == 1
        for profile_id in held.profiles[email] if "klaviyo" in wanted else []:
            assert box.klaviyo.get(profile_id) is None
            assert box.klaviyo.calls.effects("deletion_requested", profile_id) == 1
        if "mailchimp" in wanted and email in held.members:
            assert box.mailchimp.get(email) is None
            member = subscriber_hash(email)
            assert box.mailchimp.calls.effects("member_deleted_permanently", member) == 1
