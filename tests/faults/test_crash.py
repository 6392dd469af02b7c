"""The process running the requests is killed (SIGKILL) at random moments, ten times over.

A separate engine process (:mod:`tests.faults.worker`) carries out the open requests against
emulators this test serves over real sockets, in a SQLite home both share. It is killed at
seeded moments — some after a number of milliseconds, some when a number of new audit events
shows it is mid-work — and started again; after the last restart has finished its run, the
deadline monitor's pass (:func:`dsar.monitor.scanning.scan`) polls and re-queues what is left. Every
request must complete, and every processor must have seen each subject's write exactly once.

The honest limit of such a kill: after the processor acted but before the step was recorded,
the step stays ``running``. The re-run then meets the processor's own state (erasures done,
consent already withdrawn, tags present), and the connectors' idempotent operations send
nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from select import select as readable_now

import pytest
from sqlmodel import func, select

from dsar import monitor
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.models import AuditEvent, Step
from dsar.monitor import MonitorPolicy
from dsar.store import session_scope
from engine import close_connectors, finalize, pending_steps, poll_pending_step
from sandbox.faults import FaultConfig
from sandbox.server import EMULATORS
from tests.conftest import REPO
from tests.faults.conftest import ServeSandbox
from tests.faults.harness import (
    Holdings,
    assert_each_erasure_once,
    crowd_emails,
    duplicated_effects,
    plan_batch,
    process,
    statuses,
    submit_all,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(os, "fork"), reason="the engine processes are forked"),
]

SEED = 20_240_917
TRIALS = 10
REQUESTS = 12
#: Every call waits 5–35 ms, so a kill most often lands while a request is on the wire.
SLOW = FaultConfig(seed=3, latency=0.005, latency_jitter=0.03)


def _audit_events() -> int:
    with session_scope() as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


class Zygote:
    """The pre-loaded parent of the engine processes (:mod:`tests.faults.worker`).

    Its answers are read straight from the pipe, unbuffered, so that "is an ``exit`` line
    waiting?" (the engine process has ended) can be asked without blocking.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.worker"],
            cwd=REPO,
            env=dict(os.environ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
            bufsize=0,
        )
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self._in, self._out = self.process.stdin, self.process.stdout.fileno()
        assert self._read() == "ready", self.tail()

    def _read(self) -> str:
        line = b""
        while not line.endswith(b"\n"):
            chunk = os.read(self._out, 1)
            assert chunk, f"the engine's parent process ended: {self.tail()}"
            line += chunk
        return line.decode().strip()

    def tail(self) -> str:
        """The end of what the engine processes wrote to stderr."""
        return self.log.read_text()[-3000:]

    def start(self) -> int:
        """Fork a fresh engine process; return its pid."""
        self._in.write(b"run\n")
        answer = self._read()
        assert answer.startswith("pid "), self.tail()
        return int(answer.removeprefix("pid "))

    def running(self) -> bool:
        """Whether the engine process is still at work (no ``exit`` line is waiting)."""
        waiting, _, _ = readable_now([self._out], [], [], 0)
        return not waiting

    def exit_code(self) -> int:
        """Wait for the engine process to end; its exit code (-9 when killed)."""
        answer = self._read()
        assert answer.startswith("exit "), self.tail()
        return int(answer.removeprefix("exit "))

    def close(self) -> None:
        """Stop the parent."""
        self._in.close()
        self.process.wait(timeout=10)


def _steps_left_running() -> int:
    """Steps a killed process left ``running``: it died during the processor call."""
    with session_scope() as session:
        running = select(func.count()).select_from(Step).where(Step.status == StepStatus.RUNNING)
        return int(session.exec(running).one())


def _kill_at_random_point(zygote: Zygote, rng: random.Random, trial: int) -> bool:
    """Start an engine process and SIGKILL it after some milliseconds (even trials) or once
    it has written some audit events (odd trials); returns whether it was still working."""
    target = _audit_events() + rng.randint(1, 12)
    pid = zygote.start()
    if trial % 2 == 0:
        time.sleep(rng.uniform(0.01, 0.25))
    else:
        deadline = time.monotonic() + 5.0
        while _audit_events() < target and zygote.running() and time.monotonic() < deadline:
            time.sleep(0.002)
    alive = zygote.running()
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    zygote.exit_code()
    return alive


def _monitor_pass(day: int) -> int:
    """One deadline-monitor pass a day later each time: poll the pending jobs, re-run the
    failed and stuck requests (as ``flows.monitor`` does, without Prefect); returns re-runs."""
    now = datetime.now(UTC) + timedelta(days=day)
    with session_scope() as session:
        report = monitor.scan(session, today=now.date(), now=now, policy=MonitorPolicy())

    async def work() -> None:
        try:
            for job in report.pending_jobs:
                assert job.step_id is not None
                await poll_pending_step(job.step_id, deadline=asyncio.get_running_loop().time() + 2)
                if not pending_steps(job.request_id):
                    finalize(job.request_id)
            for request_id, reason in report.requeue:
                with session_scope() as session:
                    monitor.record_requeue(session, request_id=request_id, reason=reason)
                await process(request_id)
        finally:
            await close_connectors()

    asyncio.run(work())
    return len(report.requeue) + len(report.pending_jobs)


def test_sigkill_at_random_points_still_completes_every_request_exactly_once(
    serve: ServeSandbox, api_only: Path, tmp_path: Path
) -> None:
    """Ten kills at seeded moments, a restart, the monitor's re-queue: every request is
    completed and each processor received each subject's write once."""
    rng = random.Random(SEED)
    log = tmp_path / "worker.log"
    with serve(faults=SLOW, seed=9) as running:
        box = running.sandbox
        emails = crowd_emails((c.email for c in box.shopify.visible()), count=REQUESTS, seed=SEED)
        held = Holdings.of(box, emails)
        batch = plan_batch(emails)
        ids = submit_all(batch)

        zygote = Zygote(log)
        try:
            killed_mid_work, left_running = [], []
            for trial in range(TRIALS):
                killed_mid_work.append(_kill_at_random_point(zygote, rng, trial))
                left_running.append(_steps_left_running())
            zygote.start()  # the restart, left to finish its run
            assert zygote.exit_code() == 0, zygote.tail()
        finally:
            zygote.close()
        for day in range(1, 4):
            if not _monitor_pass(day):
                break

        assert sum(killed_mid_work) >= TRIALS - 2  # the kills really interrupted work
        assert sum(left_running) > 0  # ... some of them in the middle of a processor call
        assert set(statuses(ids).values()) == {RequestStatus.COMPLETED}
        erased = [p.email for p in batch if p.kind is RequestKind.ERASURE]
        assert_each_erasure_once(box, held, erased)
        duplicates = duplicated_effects(box)
        assert duplicates == {name: [] for name in EMULATORS}
