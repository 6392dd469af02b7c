"""Processors misbehaving: 5xx, 429 storms, latency spikes, dropped connections, bad JSON.

Whatever a processor's API does, every request ends completed and no processor sees a
data-changing side effect twice for one subject. Malformed JSON is a protocol error: the
write may have happened, so it is not retried; the step fails, the request goes ``failed``,
and the deadline monitor's re-queue completes it without repeating the effect.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from connectors.shopify import ShopifyConnector
from connectors.shopify_graphql import Query
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.models import AuditEvent, Step
from dsar.store import session_scope
from engine import close_connectors, poll_pending_step
from sandbox.faults import Fault, FaultConfig, FaultInjector, FaultKind
from sandbox.server import EMULATORS, Sandbox
from tests.faults.conftest import ServeSandbox
from tests.faults.harness import (
    ASYNC_DELAY,
    TIME_SCALE,
    Holdings,
    SpikyInjector,
    assert_each_erasure_once,
    crowd_emails,
    duplicated_effects,
    plan_batch,
    process,
    requeue_until_settled,
    run_batch,
    statuses,
    submit_all,
)

pytestmark = pytest.mark.integration

BATCH = 100
#: 20 % of answers are 5xx; resets, bad JSON and throttle bursts on top.
STORMY = {
    name: FaultConfig(
        seed=seed,
        error_rate=0.20,
        drop_rate=0.04,
        malformed_rate=0.01,
        throttle_rate=0.02,
        throttle_burst=4,
    )
    for name, seed in zip(EMULATORS, (11, 12, 13), strict=True)
}
SPIKE_SECONDS = 2.0
SPIKE_RATE = 0.004


def _step_failures(request_ids: list[str]) -> int:
    with session_scope() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "step_failed")).all()
    return sum(1 for e in events if e.request_id in set(request_ids))


def _batch(box: Sandbox, *, count: int, seed: int) -> list[str]:
    emails = crowd_emails((c.email for c in box.shopify.visible()), count=count, seed=seed)
    return submit_all(plan_batch(emails))


class TestBatchUnderFaults:
    def test_every_request_of_a_batch_completes_without_a_duplicated_side_effect(
        self, serve: ServeSandbox, api_only: Path
    ) -> None:
        """A hundred requests against 20 % 5xx, resets, bad JSON, 429 bursts and 2 s latency
        spikes: all complete once re-queued, and each write reaches each processor once."""
        box = Sandbox.create(
            customers=300, seed=5, faults=STORMY, async_delay=ASYNC_DELAY, time_scale=TIME_SCALE
        )
        spiky = {
            name: SpikyInjector(STORMY[name], spike_rate=SPIKE_RATE, spike=SPIKE_SECONDS)
            for name in EMULATORS
        }
        box.injectors.update(spiky)
        with serve(sandbox=box):
            emails = crowd_emails((c.email for c in box.shopify.visible()), count=BATCH, seed=21)
            held = Holdings.of(box, emails)
            batch = plan_batch(emails)
            ids = submit_all(batch)
            asyncio.run(run_batch(ids))
            asyncio.run(requeue_until_settled(ids))
            assert Counter(statuses(ids).values()) == {RequestStatus.COMPLETED: BATCH}
            assert duplicated_effects(box) == {name: [] for name in EMULATORS}
            erased = [p.email for p in batch if p.kind is RequestKind.ERASURE]
            assert_each_erasure_once(box, held, erased)
            drawn = Counter[FaultKind]()
            for injector in spiky.values():
                drawn.update(injector.drawn)
            assert all(drawn[k] > 0 for k in FaultKind)  # every kind of fault really happened
            assert sum(injector.spiked for injector in spiky.values()) > 0  # and spikes
            assert _step_failures(ids) > 0  # bad JSON did fail steps that the re-queue redid


class TestThrottling:
    def test_a_429_storm_is_waited_out_without_failing_a_step(
        self, serve: ServeSandbox, api_only: Path
    ) -> None:
        """Every processor answers 429 to the next 25 requests: the client honours
        Retry-After, and no step fails."""
        with serve(seed=7) as running:
            box = running.sandbox
            ids = _batch(box, count=12, seed=4)
            for name in EMULATORS:
                box.injector(name).force_throttle(25)
            asyncio.run(run_batch(ids))
            assert set(statuses(ids).values()) == {RequestStatus.COMPLETED}
            assert all(box.injector(n).drawn[FaultKind.THROTTLE] == 25 for n in EMULATORS)
            assert _step_failures(ids) == 0
            assert duplicated_effects(box) == {name: [] for name in EMULATORS}


class ArmedInjector(FaultInjector):
    """Injects nothing until armed; then the next request gets the armed fault."""

    def __init__(self) -> None:
        super().__init__(FaultConfig())
        self.armed: list[FaultKind] = []

    def draw(self) -> Fault:
        """The armed fault, once; otherwise none."""
        with self._lock:
            kind = self.armed.pop(0) if self.armed else FaultKind.NONE
            self.drawn[kind] += 1
        return Fault(kind=kind)


def _malform_first_erasure_answer(monkeypatch: pytest.MonkeyPatch, injector: ArmedInjector) -> None:
    """Arm the Shopify emulator to cut its first answer to an erasure mutation in half."""
    original = ShopifyConnector._graphql
    shots = [FaultKind.MALFORMED]

    async def graphql(self: ShopifyConnector, query: Query, variables: dict[str, Any]) -> Any:
        if "customerRequestDataErasure" in query and shots:
            injector.armed.append(shots.pop())
        return await original(self, query, variables)

    monkeypatch.setattr(ShopifyConnector, "_graphql", graphql)


def _shopify_erase(request_id: str) -> Step:
    with session_scope() as session:
        return session.exec(
            select(Step).where(
                Step.request_id == request_id,
                Step.recipient == "shopify",
                Step.action == "erase",
            )
        ).one()


class TestMalformedAnswers:
    def test_bad_json_after_the_write_fails_the_request_and_the_requeue_completes_it_once(
        self, serve: ServeSandbox, api_only: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The erasure was accepted but its answer is unreadable: the step fails (no blind
        retry), the request is ``failed``, and the re-queue finishes it with one erasure."""
        box = Sandbox.create(customers=50, seed=8, async_delay=ASYNC_DELAY, time_scale=TIME_SCALE)
        injector = box.injectors["shopify"] = ArmedInjector()
        _malform_first_erasure_answer(monkeypatch, injector)
        with serve(sandbox=box):
            (request_id,) = _batch(box, count=1, seed=1)  # the first of a batch is an erasure
            assert asyncio.run(process(request_id)) == RequestStatus.FAILED.value
            step = _shopify_erase(request_id)
            assert step.status is StepStatus.FAILED
            assert "malformed JSON" in (step.error or "")
            asyncio.run(requeue_until_settled([request_id]))
            assert statuses([request_id])[request_id] is RequestStatus.COMPLETED
            assert box.shopify.calls.effects("erasure_requested") == 1

    def test_erasure_reissued_while_shopify_still_works_on_it_is_one_side_effect(
        self, serve: ServeSandbox, api_only: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Re-queued before Shopify finished the first erasure, the engine asks again (it has
        no way to see a pending erasure); Shopify's erasure request is idempotent, so the
        processor has still been asked for one erasure."""
        box = Sandbox.create(customers=50, seed=8, async_delay=60.0, time_scale=1.0)
        injector = box.injectors["shopify"] = ArmedInjector()
        _malform_first_erasure_answer(monkeypatch, injector)
        with serve(sandbox=box):
            (request_id,) = _batch(box, count=1, seed=1)
            assert asyncio.run(process(request_id, poll_seconds=0)) == RequestStatus.FAILED.value
            asyncio.run(process(request_id, poll_seconds=0))
            assert _shopify_erase(request_id).status is StepStatus.PENDING
            assert box.shopify.calls.effects("erasure_requested") == 1


class TestPolling:
    def test_an_unreadable_job_status_leaves_the_step_pending_for_the_next_poll(
        self, serve: ServeSandbox, api_only: Path
    ) -> None:
        """A malformed answer to a status check says nothing about the job: the poll goes on
        (no crashed run) and verifies the erasure once the processor answers properly."""
        box = Sandbox.create(customers=50, seed=8, async_delay=10.0, time_scale=TIME_SCALE)
        injector = box.injectors["shopify"] = ArmedInjector()
        with serve(sandbox=box):
            (request_id,) = _batch(box, count=1, seed=1)
            asyncio.run(process(request_id, poll_seconds=0))
            step = _shopify_erase(request_id)
            assert step.status is StepStatus.PENDING
            injector.armed.append(FaultKind.MALFORMED)

            async def poll() -> str:
                deadline = asyncio.get_running_loop().time() + 5
                try:
                    return await poll_pending_step(step.id, deadline=deadline)
                finally:
                    await close_connectors()

            assert asyncio.run(poll()) == StepStatus.DONE.value
            assert injector.drawn[FaultKind.MALFORMED] == 1


def test_transient_errors_are_retried_by_the_http_layer_alone() -> None:
    """One retry layer per failure class: the connector-step task adds no retries of its own
    on top of the HTTP layer's (the batch driver here runs steps the same way)."""
    from flows.process import connector_step, notify_recipient

    assert connector_step.retries == 0
    assert notify_recipient.retries == 2  # mail delivery has no retry layer below the task
