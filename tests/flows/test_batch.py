"""Many requests in one flow run: ``process-requests`` and ``dsar run ID ID …``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dsar.cli import app
from dsar.enums import RequestKind, RequestStatus, StepStatus
from dsar.models import Request, Step
from dsar.store import session_scope
from sandbox.seed import JONAS_EMAIL, MARIA_EMAIL
from tests.flows.conftest import submit
from tests.mailsink import Inbox

pytestmark = pytest.mark.integration


def _status(request_id: str) -> RequestStatus:
    with session_scope() as session:
        request = session.get(Request, request_id)
        assert request is not None
        return request.status


def _processor_calls(sandbox: Any) -> int:
    box = sandbox.sandbox
    return sum(e.calls.total_requests for e in (box.shopify, box.klaviyo, box.mailchimp))


def _batch(request_ids: list[str], concurrency: int = 1) -> dict[str, RequestStatus]:
    from flows.embedded import run_requests

    return asyncio.run(run_requests(request_ids, concurrency=concurrency))


def test_a_batch_carries_out_every_request_and_answers_each_subject(
    engine_env: Inbox, sandbox: Any
) -> None:
    """Each request of a batch runs all its steps: the access subject gets exactly one answer,
    the erasure waits for staff's tasks for the recipients without an API (a decision task,
    which sends nothing before staff decide, stays planned)."""
    access = submit(RequestKind.ACCESS, MARIA_EMAIL)
    erasure = submit(RequestKind.ERASURE, JONAS_EMAIL)
    outcomes = _batch([access, erasure], concurrency=2)
    assert outcomes[access] == "completed"
    assert outcomes[erasure] == "awaiting_manual"
    assert _status(access) is RequestStatus.COMPLETED
    with session_scope() as session:
        steps = session.exec(select(Step).where(Step.request_id == erasure)).all()
    assert steps
    assert all(step.status is not StepStatus.PLANNED for step in steps if step.action != "decide")
    assert [s.recipient for s in steps if s.action == "decide"] == ["google_ads"]
    assert len([m for m in engine_env.messages if MARIA_EMAIL in str(m["To"])]) == 1


def test_a_request_that_breaks_is_reported_failed_with_its_reason_and_the_rest_go_on(
    engine_env: Inbox, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request that breaks mid-run is marked ``failed`` with the reason (the monitor re-runs
    failed requests) and reported as such; an unknown id is ``failed`` too; the others run."""
    from engine import connector_groups as real_groups

    broken = submit(RequestKind.ERASURE, JONAS_EMAIL)
    access = submit(RequestKind.ACCESS, MARIA_EMAIL)
    missing = "0" * 32

    def groups(request_id: str) -> Any:
        if request_id == broken:
            raise RuntimeError("the database went away")
        return real_groups(request_id)

    monkeypatch.setattr("flows.process.connector_groups", groups)
    outcomes = _batch([missing, broken, access])
    assert outcomes == {
        missing: RequestStatus.FAILED,
        broken: RequestStatus.FAILED,
        access: RequestStatus.COMPLETED,
    }
    assert all(isinstance(status, RequestStatus) for status in outcomes.values())
    with session_scope() as session:
        stored = session.get(Request, broken)
        assert stored is not None
        assert stored.status is RequestStatus.FAILED
        assert stored.status_reason == "processing broke: RuntimeError"


def test_a_batch_that_is_run_again_changes_nothing(engine_env: Inbox, sandbox: Any) -> None:
    """A request named twice runs once; re-running the finished batch sends no second answer
    and repeats no processor call."""
    access = submit(RequestKind.ACCESS, MARIA_EMAIL)
    assert _batch([access, access]) == {access: "completed"}
    mails = len(engine_env.messages)
    assert mails == 1
    calls = _processor_calls(sandbox)
    assert calls > 0
    assert _batch([access]) == {access: "completed"}
    assert len(engine_env.messages) == mails
    assert _processor_calls(sandbox) == calls


def test_dsar_run_with_several_ids_prints_each_outcome(engine_env: Inbox, sandbox: Any) -> None:
    """``dsar run A B --json`` carries both out and lists both, each with its steps."""
    first = submit(RequestKind.ACCESS, MARIA_EMAIL)
    second = submit(RequestKind.RESTRICTION, JONAS_EMAIL)
    result = CliRunner().invoke(app, ["run", first, second[:10], "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert [p["id"] for p in payload] == [first, second]
    assert payload[0]["status"] == "completed"
    assert all(p["steps"] for p in payload)


def test_dsar_run_json_names_the_package_of_an_access_request(
    engine_env: Inbox, sandbox: Any
) -> None:
    """``dsar run ID --json`` gives an access request's package path; other kinds have none."""
    access = submit(RequestKind.ACCESS, MARIA_EMAIL)
    result = CliRunner().invoke(app, ["run", access, "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["status"] == "completed"
    package = Path(payload["export_path"])
    assert package.is_file()
    assert package.suffix == ".zip"
    restriction = submit(RequestKind.RESTRICTION, JONAS_EMAIL)
    result = CliRunner().invoke(app, ["run", restriction, "--json"])
    assert "export_path" not in json.loads(result.stdout)


def test_dsar_run_with_an_unknown_id_fails_before_anything_runs(
    engine_env: Inbox, sandbox: Any
) -> None:
    """An unknown id among several is a usage error (exit 2); no request is started."""
    access = submit(RequestKind.ACCESS, MARIA_EMAIL)
    result = CliRunner().invoke(app, ["run", access, "f" * 32])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert _status(access) is RequestStatus.RECEIVED
