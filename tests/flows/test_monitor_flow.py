"""The deadline monitor flow: pending jobs finish, stuck runs resume, and the pass is published."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from rich.console import Console
from sqlmodel import select

from dsar.audit import events_for
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.models import ManualTask, Request, Step, utcnow
from dsar.settings import get_settings
from dsar.store import session_scope
from engine import complete_task, decide_recipient, pending_steps, start_and_plan
from flows.monitor import ARTIFACT_KEY, deadline_monitor, run_monitor
from sandbox.seed import MARIA_EMAIL
from tests.flows.conftest import run, submit
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration


def monitor_pass() -> tuple[dict[str, Any], UUID]:
    """Run one pass; return its result and its flow run id."""

    async def go() -> tuple[dict[str, Any], UUID]:
        state = await deadline_monitor(return_state=True)
        result = await state.aresult()
        flow_run_id = state.state_details.flow_run_id
        assert flow_run_id is not None
        return result, flow_run_id

    return asyncio.run(go())


def artifact_rows(flow_run_id: UUID) -> list[dict[str, Any]]:
    """The table the pass published."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    async def go() -> Any:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[ARTIFACT_KEY]),
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                )
            )

    (artifact,) = asyncio.run(go())
    data = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    return list(data)


def status_of(request_id: str) -> RequestStatus:
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request.status


def test_pending_erasure_is_polled_to_completion_and_the_pass_is_published(
    engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A processor job its run stopped waiting for is polled, verified and the request
    answered; the pass's table artifact lists it by id, never by the subject."""
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "0")
    get_settings.cache_clear()
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    assert run(request_id) == "awaiting_manual"
    assert pending_steps(request_id)
    with session_scope() as session:
        tasks = session.exec(select(ManualTask).where(ManualTask.request_id == request_id)).all()
    for task in tasks:
        if task.recipient == "google_ads":  # nothing on record ties Maria to it
            decide_recipient(task.id, received=False, note="not in any audience", actor="staff")
        else:
            complete_task(task.id, note="recipient confirmed by e-mail", actor="staff:test")

    result, flow_run_id = monitor_pass()

    assert pending_steps(request_id) == []
    assert status_of(request_id) is RequestStatus.COMPLETED
    assert result["actions"]["jobs_done"] >= 1
    assert result["actions"]["answered_completed"] == 1
    with session_scope() as session:
        erasures = session.exec(
            select(Step).where(Step.request_id == request_id, Step.action == "erase")
        ).all()
    assert erasures
    assert all(s.status is StepStatus.DONE for s in erasures)
    answers = [m for m in engine_env.messages if MARIA_EMAIL in str(m["To"])]
    assert len(answers) == 1
    rows = artifact_rows(flow_run_id)
    assert any(row["request"] == request_id and row["kind"] == "pending_job" for row in rows)
    assert MARIA_EMAIL.lower() not in str(rows).lower()


def test_stuck_run_is_requeued_once_as_a_subflow(engine_env: Inbox, sandbox: Any) -> None:
    """A request left in progress without progress is run again and answered, and the CLI's
    table shows it by id; a second pass the same day neither re-runs it nor sends anything."""
    request_id = submit(RequestKind.ACCESS, MARIA_EMAIL)
    start_and_plan(request_id)
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        request.updated_at = utcnow() - timedelta(hours=2)
        session.add(request)

    console = Console(record=True, width=200)
    first = run_monitor(console=console)
    assert first.actions["rerun_completed"] == 1
    assert status_of(request_id) is RequestStatus.COMPLETED
    printed = console.export_text()
    assert request_id[:12] in printed
    assert "requeue" in printed
    assert MARIA_EMAIL.lower() not in printed.lower()
    mails = len(engine_env.messages)

    second, _ = monitor_pass()
    assert not any(key.startswith("rerun") for key in second["actions"])
    assert len(engine_env.messages) == mails
    with session_scope() as session:
        requeues = [e for e in events_for(session, request_id) if e.action == "run_requeued"]
    assert [e.data for e in requeues] == [{"reason": "stuck"}]


def test_dsar_monitor_command_prints_the_pass_as_json(prefect_api: None) -> None:
    """`dsar monitor --json` runs one pass and prints its report; a bad date exits 2."""
    import json

    from typer.testing import CliRunner

    from dsar.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["monitor", "--json", "--today", "2026-04-01"])
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["today"] == "2026-04-01"
    bad = runner.invoke(app, ["monitor", "--today", "April"])
    assert bad.exit_code == 2
    assert "--today" in bad.stderr


def test_a_profile_the_shop_sync_brings_back_is_erased_again(
    engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Klaviyo's deletion completes, then its Shopify integration re-creates the profile from
    the shop (whose erasure takes days) under a new id. The erasure is verified by e-mail, not
    by the old id: the new profile is found, erased in turn, and only then is the step done."""
    monkeypatch.setenv("DSAR_ASYNC_WAIT_SECONDS", "0")
    get_settings.cache_clear()
    box = sandbox.sandbox
    box.shopify.config = replace(box.shopify.config, async_delay=3600.0)
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    run(request_id)
    time.sleep(0.5)  # Klaviyo's deletion job is done; the shop still holds Maria
    assert box.klaviyo.find("email", MARIA_EMAIL) == []
    synced = box.sync_shop_to_klaviyo(MARIA_EMAIL)
    assert synced is not None

    for _ in range(3):
        monitor_pass()
        if klaviyo_step(request_id).status is StepStatus.DONE:
            break
        time.sleep(0.5)

    assert klaviyo_step(request_id).status is StepStatus.DONE
    assert box.klaviyo.find("email", MARIA_EMAIL) == []
    assert any(synced in d.removed_profiles for d in box.klaviyo.deletions)
    with session_scope() as session:
        repeated = [
            e.data for e in events_for(session, request_id) if e.action == "erasure_repeated"
        ]
    assert [r["recipient"] for r in repeated] == ["klaviyo"]


def klaviyo_step(request_id: str) -> Step:
    with session_scope() as session:
        step = session.exec(
            select(Step).where(
                Step.request_id == request_id, Step.connector == "klaviyo", Step.action == "erase"
            )
        ).one()
        session.expunge(step)
        return step
