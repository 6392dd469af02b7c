"""The production topology on loopback: PostgreSQL, a Prefect server, two workers of a process
pool and the intake service, all started by the scripts in ``deployments/production/``.

Fifty requests of every kind arrive as an outsider sends them: signed contact-form posts (the
subject then clicks the confirmation link from the mail) and Shopify compliance webhooks. While
the flow runs are under way one worker is killed with every process it started, as when its
machine dies. Prefect marks the runs that lost their heartbeat Crashed; the engine's deadline
monitor (its re-queue rule, with a short "stuck" threshold) hands their requests to the
deployment again and the surviving worker finishes them. Staff complete the manual tasks of
recipients without an API. Every request must complete exactly once: one answer each, one
erasure per subject at each processor, no step carried out twice, and an intact audit chain.

Skipped when no PostgreSQL server can be started, unless ``DSAR_TOPOLOGY_REQUIRED=1`` (CI).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select

from dsar import monitor
from dsar.enums import RequestKind, RequestStatus
from dsar.intake import shopify_hmac
from dsar.models import ManualTask, Notice, Request, Step, utcnow
from dsar.monitor import MonitorPolicy
from dsar.settings import SANDBOX_SHOPIFY_APP_SECRET, get_settings
from dsar.store import get_engine, session_scope
from engine import complete_task, decide_recipient, finalize, open_manual_tasks
from sandbox.faults import FaultConfig
from sandbox.mailchimp_state import subscriber_hash
from sandbox.server import running_sandbox
from tests.browser import confirm, post_contact_form
from tests.conftest import REGISTERS, REPO
from tests.faults.harness import PERSONAS, Holdings, assert_each_erasure_once, duplicated_effects
from tests.mailsink import free_port
from tests.postgres import _binaries, _watchdog
from tests.topology.conftest import SUMMARY, failed
from tests.topology.harness import (
    ACTIVE,
    SCRIPTS,
    Topology,
    descendants,
    infrastructure_pid,
    kill_tree,
    pids_alive,
    verification_links,
    wait_for,
)

pytestmark = [pytest.mark.topology, pytest.mark.integration]

REQUESTS = 50
SHOPIFY_WEBHOOKS = 14
SEED = 20_260_501
SECRET = "topology-contact-form-secret"
CONTACT_KINDS = (
    RequestKind.ACCESS,
    RequestKind.ERASURE,
    RequestKind.OBJECTION,
    RequestKind.RECTIFICATION,
    RequestKind.RESTRICTION,
    RequestKind.PORTABILITY,
)
#: Seconds each emulator takes to answer.
PROCESSOR_LATENCY = 0.2
#: Seconds between a flow run's heartbeats, and without one before Prefect calls it Crashed.
HEARTBEAT_SECONDS = 30  # the least Prefect accepts
ZOMBIE_SECONDS = 45
#: Mailchimp's emulator counts a body write before it reads the body, so a PATCH whose client
#: was killed mid-request is counted although nothing was written (see tests/faults/test_crash).
_COUNTED_BEFORE_BODY = frozenset({"member_updated", "member_upserted"})


def _require_or_skip(reason: str) -> None:
    if os.environ.get("DSAR_TOPOLOGY_REQUIRED") == "1":
        pytest.fail(f"DSAR_TOPOLOGY_REQUIRED=1 but {reason}")
    pytest.skip(reason)


@dataclass(frozen=True)
class Sent:
    """One request as it was sent: to whom, what, and by which channel."""

    email: str
    kind: RequestKind
    channel: str  # "contact_form" | "shopify"
    customer_id: int | None = None


@pytest.fixture
def topology(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Topology, Any]]:
    """Emulators in this process; the rest started by ``up.sh``, stopped by ``down.sh``."""
    if _binaries() is None:
        _require_or_skip("PostgreSQL server binaries not found (apt-get install postgresql)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        _require_or_skip("running as root without runuser: cannot start PostgreSQL")
    run_dir = Path(tempfile.mkdtemp(prefix="dsar-topology-"))
    run_dir.chmod(0o755)  # the postgres user must reach its data directory inside
    ports = {name: str(free_port()) for name in ("PG", "PREFECT", "INTAKE")}
    # Processors answer in 0.2 s, as real APIs do: a run then lasts long enough for the kill
    # below to land inside one rather than between two.
    with running_sandbox(async_delay=0.5, faults=FaultConfig(latency=PROCESSOR_LATENCY)) as sandbox:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "PREFECT_"))},
            **sandbox.env(),
            "DSAR_RUN_DIR": str(run_dir),
            "DSAR_PG_PORT": ports["PG"],
            "DSAR_PREFECT_PORT": ports["PREFECT"],
            "DSAR_INTAKE_PORT": ports["INTAKE"],
            "DSAR_PG_OPTIONS": "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300",
            "DSAR_WORKERS": "2",
            "DSAR_WORKER_LIMIT": "4",
            "DSAR_WEBHOOK_SECRET": SECRET,
            "DSAR_SHOPIFY_APP_SECRET": SANDBOX_SHOPIFY_APP_SECRET,
            "DSAR_REGISTERS_DIR": str(REGISTERS),
            "DSAR_ASYNC_WAIT_SECONDS": "20",
            "DSAR_INTAKE_RATE_PER_MINUTE": "6000",
            "DSAR_INTAKE_BURST": "500",
            "DSAR_ZOMBIE_SECONDS": str(ZOMBIE_SECONDS),
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS),
        }
        stop = [
            "env",
            *(f"{k}={env[k]}" for k in ("DSAR_RUN_DIR", "DSAR_PG_PORT", "DSAR_PREFECT_PORT")),
            "bash",
            str(SCRIPTS / "down.sh"),
        ]
        watchdog = _watchdog(stop, run_dir)
        home = run_dir / "home"
        database_url = f"postgresql+psycopg://dsar@127.0.0.1:{ports['PG']}/dsar"
        running = Topology(
            run_dir=run_dir,
            env={**env, "DSAR_HOME": str(home), "DSAR_DATABASE_URL": database_url},
            intake_url=f"http://127.0.0.1:{ports['INTAKE']}",
            prefect_api=f"http://127.0.0.1:{ports['PREFECT']}/api",
        )
        try:
            running.script("up.sh", "2", timeout=300)
            for key, value in {
                **sandbox.env(),
                "DSAR_HOME": str(home),
                "DSAR_DATABASE_URL": database_url,
                "DSAR_REGISTERS_DIR": str(REGISTERS),
                "DSAR_WEBHOOK_SECRET": SECRET,
                "DSAR_PUBLIC_URL": running.intake_url,
            }.items():
                monkeypatch.setenv(key, value)
            get_settings.cache_clear()
            yield running, sandbox.sandbox
            if failed(request):
                print(running.log_tails())
        except BaseException:
            print(running.log_tails())
            raise
        finally:
            get_engine(database_url).dispose()
            running.script("down.sh", timeout=180)
            watchdog.kill()
            watchdog.wait()
            shutil.rmtree(run_dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------
# The requests
# ------------------------------------------------------------------------------------------


def _subjects(box: Any) -> list[tuple[str, int]]:
    """Shop customers also in Klaviyo and Mailchimp: (address, customer id), one per request."""
    everywhere = sorted(
        (c.email.lower(), c.id)
        for c in box.shopify.customers.values()
        if c.email
        and c.email.lower() not in PERSONAS
        and box.klaviyo.find("email", c.email)
        and box.mailchimp.get(c.email) is not None
    )
    return random.Random(SEED).sample(everywhere, REQUESTS)


def _plan(subjects: list[tuple[str, int]]) -> list[Sent]:
    plan = []
    for index, (address, customer_id) in enumerate(subjects):
        if index < SHOPIFY_WEBHOOKS:
            kind = RequestKind.ACCESS if index % 2 == 0 else RequestKind.ERASURE
            plan.append(Sent(address, kind, "shopify", customer_id))
        else:
            plan.append(Sent(address, CONTACT_KINDS[index % len(CONTACT_KINDS)], "contact_form"))
    return plan


def _send(intake: str, item: Sent) -> str:
    """Deliver one request as its channel would; returns the stored request's id."""
    if item.channel == "contact_form":
        fields: dict[str, Any] = {
            "controller": "lunexxa",
            "kind": item.kind.value,
            "email": item.email,
            "name": "Topology Test",
            "language": "en",
        }
        if item.kind is RequestKind.RECTIFICATION:
            # a correction carries its right values, or verification asks for them first
            fields["message"] = "Please correct my surname."
            fields["corrections"] = {"last_name": "Korrigiert"}
        answer = post_contact_form(intake, fields, secret=SECRET, timeout=30)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])
    topic = "customers/data_request" if item.kind is RequestKind.ACCESS else "customers/redact"
    payload: dict[str, Any] = {
        "shop_id": 954889,
        "shop_domain": "lunexxa.myshopify.com",
        "customer": {"id": item.customer_id, "email": item.email},
    }
    payload["orders_requested" if item.kind is RequestKind.ACCESS else "orders_to_redact"] = []
    body = json.dumps(payload).encode()
    answer = httpx.post(
        f"{intake}/webhooks/shopify?controller=lunexxa",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": shopify_hmac(SANDBOX_SHOPIFY_APP_SECRET, body),
            "X-Shopify-Shop-Domain": "lunexxa.myshopify.com",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        },
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


# ------------------------------------------------------------------------------------------
# Staff and the monitor, as the test drives them
# ------------------------------------------------------------------------------------------


def _statuses(ids: list[str]) -> dict[str, RequestStatus]:
    with session_scope() as session:
        rows = session.exec(select(Request.id, Request.status).where(col(Request.id).in_(ids)))
        return {rid: RequestStatus(status) for rid, status in rows}


def _complete_manual_tasks(ids: list[str]) -> int:
    """Staff record each open task of a request that waits only on them; the last one closes it."""
    waiting = [rid for rid, s in _statuses(ids).items() if s is RequestStatus.AWAITING_MANUAL]
    if not waiting:
        return 0
    with session_scope() as session:
        tasks = session.exec(
            select(ManualTask.id, ManualTask.request_id, ManualTask.recipient).where(
                col(ManualTask.request_id).in_(waiting), ManualTask.status == "open"
            )
        ).all()
        deciding = set(
            session.exec(
                select(Step.request_id, Step.recipient).where(
                    col(Step.request_id).in_(waiting), Step.action == "decide"
                )
            ).all()
        )
    for task_id, request_id, recipient in tasks:
        if (request_id, recipient) in deciding:  # nothing on record ties the person to it
            decide_recipient(task_id, received=False, note="not in its lists", actor="staff")
        else:
            complete_task(task_id, note="confirmed by e-mail reply", actor="staff:topology")
        if open_manual_tasks(request_id) == 0:
            finalize(request_id)
    return len(tasks)


def _requeue_stuck(topology: Topology) -> list[str]:
    """One re-queue pass of the deadline monitor with a short "stuck" threshold; each re-run
    goes to the process-request deployment, so any live worker may take it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.dispatch import DeploymentDispatcher

    now = utcnow()
    policy = MonitorPolicy(stuck_after=timedelta(seconds=2))
    with session_scope() as session:
        report = monitor.scan(session, today=now.date(), now=now, policy=policy)
    # The monitor also polls processor jobs still pending when a run ended; a re-run of the
    # request does exactly that (and answers the subject once every step is done).
    due = [*report.requeue, *((job.request_id, "pending job") for job in report.pending_jobs)]
    dispatcher = DeploymentDispatcher()
    with temporary_settings(updates={PREFECT_API_URL: topology.prefect_api}):
        for request_id, reason in due:
            with session_scope() as session:
                monitor.record_requeue(session, request_id=request_id, reason=reason)
            dispatcher.dispatch(request_id)
    return [request_id for request_id, _ in due]


# ------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------


def test_fifty_requests_complete_exactly_once_when_a_worker_dies(
    topology: tuple[Topology, Any], request: pytest.FixtureRequest
) -> None:
    """Every request sent to the production topology completes exactly once, including the
    ones whose worker was killed mid-run (taken over via the monitor's re-queue)."""
    running, box = topology
    plan = _plan(_subjects(box))
    held = Holdings.of(box, [item.email for item in plan])
    ids = {item.email: _send(running.intake_url, item) for item in plan}
    request_ids = list(ids.values())

    contact = {item.email for item in plan if item.channel == "contact_form"}
    links = wait_for(
        lambda: (found := verification_links(running.outbox)).keys() >= contact and found,
        seconds=300,
        what="a confirmation mail to every contact-form sender",
    )
    for address in sorted(contact):
        assert confirm(links[address], timeout=30).status_code == 200

    # Kill worker-1 with every process it started, once it is carrying out a run.
    worker = running.pid("worker-1")
    wait_for(
        lambda: any(
            infrastructure_pid(run) in descendants(worker) for run in running.flow_runs("RUNNING")
        ),
        seconds=180,
        what="worker-1 to carry out a flow run",
        every=0.2,
    )
    victims = kill_tree(worker)
    wait_for(lambda: not pids_alive(victims), seconds=30, what="the killed processes to exit")
    orphans = [
        run for run in running.flow_runs("PENDING", "RUNNING") if infrastructure_pid(run) in victims
    ]
    killed = {str(run["parameters"]["request_id"]) for run in orphans}
    assert killed, "the kill hit no flow run"
    orphan_ids = {str(run["id"]) for run in orphans}

    requeued: Counter[str] = Counter()

    def settled() -> bool:
        _complete_manual_tasks(request_ids)
        statuses = _statuses(request_ids)
        if all(s is RequestStatus.COMPLETED for s in statuses.values()):
            return True
        busy = [
            r
            for r in running.flow_runs(*ACTIVE)
            if "request_id" in r["parameters"] and str(r["id"]) not in orphan_ids
        ]
        if not busy:
            requeued.update(_requeue_stuck(running))
        return False

    wait_for(settled, seconds=600, what="every request to complete", every=1.0)

    # Exactly once: one answer per request, no step twice, one erasure per subject.
    with session_scope() as session:
        answers = Counter(
            session.exec(
                select(Notice.request_id).where(
                    col(Notice.request_id).in_(request_ids), Notice.purpose == "answer"
                )
            ).all()
        )
        repeated_steps = session.exec(
            select(Step.request_id, Step.recipient, Step.action, func.count())
            .where(col(Step.request_id).in_(request_ids))
            .group_by(Step.request_id, Step.recipient, Step.action)
            .having(func.count() > 1)
        ).all()
    assert {rid: answers[rid] for rid in request_ids} == dict.fromkeys(request_ids, 1)
    assert repeated_steps == []
    erased = [item.email for item in plan if item.kind is RequestKind.ERASURE]
    assert_each_erasure_once(box, held, erased)
    killed_members = {subscriber_hash(email) for email, rid in ids.items() if rid in killed}
    duplicates = {
        name: [
            d
            for d in found
            if not (name == "mailchimp" and d[0] in _COUNTED_BEFORE_BODY and d[1] in killed_members)
        ]
        for name, found in duplicated_effects(box).items()
    }
    assert duplicates == {"shopify": [], "klaviyo": [], "mailchimp": []}

    verify = subprocess.run(
        [sys.executable, "-m", "dsar.cli.root", "audit", "verify"],
        env=running.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # Prefect saw the dead runs' heartbeats stop and marked them Crashed.
    dead_runs = [str(r["id"]) for r in orphans if r["state_type"] == "RUNNING"]
    wait_for(
        lambda: all(running.state_of(rid) == "CRASHED" for rid in dead_runs),
        seconds=4 * ZOMBIE_SECONDS,
        what="the killed flow runs to be marked Crashed",
    )
    # (A killed request either came back through the monitor's re-queue or, when its run had
    # already done every processor step, was closed by staff completing its last manual task;
    # both count, and both were checked above to have happened exactly once.)

    completed = sum(1 for s in _statuses(request_ids).values() if s is RequestStatus.COMPLETED)
    print(
        f"\nworker-1 killed mid-run: {len(killed)} request(s) taken over "
        f"({len(requeued)} re-queued by the monitor)"
    )
    line = f"topology: {completed}/{REQUESTS} requests completed exactly once"
    print(line)
    request.config.stash[SUMMARY] = line
