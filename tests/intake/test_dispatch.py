"""The two dispatchers start processing without blocking the intake service."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flows.dispatch import DEPLOYMENT, DeploymentDispatcher, EmbeddedDispatcher


class TestEmbeddedDispatcher:
    def test_runs_the_request_on_a_worker_thread_with_its_own_loop(self) -> None:
        """dispatch() returns at once; the runner gets the id on another thread's event loop."""
        import asyncio

        seen: list[tuple[str, str]] = []
        release = threading.Event()

        async def runner(request_id: str) -> str:
            asyncio.get_running_loop()  # raises unless a loop runs here
            release.wait(timeout=10)
            seen.append((request_id, threading.current_thread().name))
            return "completed"

        dispatcher = EmbeddedDispatcher(runner=runner)
        dispatcher.dispatch("req-1")
        assert seen == []  # still waiting: dispatch did not block on the run
        release.set()
        dispatcher.shutdown(wait=True)
        assert seen[0][0] == "req-1"
        assert seen[0][1].startswith("dsar-flow")

    def test_a_failing_run_is_logged_and_frees_its_slot(self) -> None:
        """A run that raises does not take the dispatcher down; later dispatches still run."""
        done: list[str] = []

        async def runner(request_id: str) -> None:
            if request_id == "bad":
                raise RuntimeError("connector exploded")
            done.append(request_id)

        dispatcher = EmbeddedDispatcher(max_workers=1, max_pending=1, runner=runner)
        dispatcher.dispatch("bad")
        dispatcher.shutdown(wait=True)
        dispatcher = EmbeddedDispatcher(max_workers=1, max_pending=1, runner=runner)
        dispatcher.dispatch("good")
        dispatcher.shutdown(wait=True)
        assert done == ["good"]

    def test_a_full_queue_declines_instead_of_growing(self) -> None:
        """Beyond workers + pending slots a dispatch is declined; the monitor starts it later."""
        release = threading.Event()
        started: list[str] = []

        async def runner(request_id: str) -> None:
            started.append(request_id)
            release.wait(timeout=10)

        dispatcher = EmbeddedDispatcher(max_workers=1, max_pending=1, runner=runner)
        for request_id in ("a", "b", "c"):
            dispatcher.dispatch(request_id)
        release.set()
        dispatcher.shutdown(wait=True)
        assert sorted(started) == ["a", "b"]

    def test_dispatch_after_shutdown_is_declined(self) -> None:
        """A stopping process declines new work rather than raising into the web request."""

        async def runner(request_id: str) -> None:
            raise AssertionError("must not run")

        dispatcher = EmbeddedDispatcher(runner=runner)
        dispatcher.shutdown()
        dispatcher.dispatch("late")

    def test_bounds_must_be_positive(self) -> None:
        """A pool without workers would accept work it never does."""
        with pytest.raises(ValueError, match="at least one worker"):
            EmbeddedDispatcher(max_workers=0)


class TestDeploymentDispatcher:
    def test_schedules_the_process_request_deployment_with_only_the_id(self) -> None:
        """The run is created without waiting (timeout=0) and carries no identity."""
        calls: list[tuple[str, dict[str, Any]]] = []

        def run(name: str, **kwargs: Any) -> Any:
            calls.append((name, kwargs))
            return type("FlowRun", (), {"id": "run-1"})()

        DeploymentDispatcher(run=run).dispatch("req-1")
        assert calls == [(DEPLOYMENT, {"parameters": {"request_id": "req-1"}, "timeout": 0})]
        assert DEPLOYMENT == "process-request/process-request"

    def test_failure_to_schedule_reaches_the_caller(self) -> None:
        """The intake service sees the failure and leaves the request to the monitor."""

        def run(name: str, **kwargs: Any) -> Any:
            raise ConnectionError("Prefect API unreachable")

        with pytest.raises(ConnectionError):
            DeploymentDispatcher(run=run).dispatch("req-1")
