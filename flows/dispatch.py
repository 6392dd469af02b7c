"""Starting ``process-request`` for a request the intake service stored: two dispatchers.

The intake service (:mod:`dsar.intake.app`) knows only the ``Dispatcher`` protocol; which one runs
is a deployment decision:

* :class:`EmbeddedDispatcher` — single machine (``dsar serve``): the flow runs in this process,
  in a small pool of worker threads, each with its own event loop, so the web server's loop is
  never blocked by a request's processing.
* :class:`DeploymentDispatcher` — production: a flow run of the ``process-request`` deployment
  is created and the work pool's workers pick it up; the web process only records the wish.

Either way the flow itself passes the identity gate first, so dispatching an unverified request
just sends its challenge mail. A request that cannot be started now waits for the monitor.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from dsar.logging import get_logger

log = get_logger("dsar.flows.dispatch")

#: The deployment ``deployments/serve.py`` and ``prefect.yaml`` define for the entry flow.
DEPLOYMENT = "process-request/process-request"

Runner = Callable[[str], Awaitable[object]]


async def _process_request(request_id: str) -> object:
    from flows.embedded import run_request

    return await run_request(request_id)


class EmbeddedDispatcher:
    """Runs ``process_request(request_id)`` in this process, on a bounded pool of threads.

    At most ``max_workers`` requests are processed at once and at most ``max_pending`` wait
    for a worker; beyond that a dispatch is declined (logged) and the request stays stored
    for the deadline monitor, rather than piling up unbounded work in memory.
    """

    def __init__(
        self, *, max_workers: int = 2, max_pending: int = 100, runner: Runner | None = None
    ) -> None:
        if max_workers < 1 or max_pending < 1:
            raise ValueError("a dispatcher needs at least one worker and one pending slot")
        self._runner = runner or _process_request
        self._slots = threading.BoundedSemaphore(max_workers + max_pending)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="dsar-flow")

    def dispatch(self, request_id: str) -> None:
        """Queue the request's processing; return at once."""
        if not self._slots.acquire(blocking=False):
            log.warning("dispatch_declined", request_id=request_id, reason="queue full")
            return
        try:
            future = self._pool.submit(self._run, request_id)
        except RuntimeError:  # the pool is shut down: the process is stopping
            self._slots.release()
            log.warning("dispatch_declined", request_id=request_id, reason="shutting down")
            return
        future.add_done_callback(lambda done: self._finished(request_id, done))

    def _run(self, request_id: str) -> object:
        """One request on a fresh event loop, owned by this worker thread for the run."""
        return asyncio.run(_as_coroutine(self._runner(request_id)))

    def _finished(self, request_id: str, future: Future[Any]) -> None:
        self._slots.release()
        error = future.exception()
        if error is not None:
            log.error("dispatch_failed", request_id=request_id, exc_info=error)
        else:
            log.info("dispatch_finished", request_id=request_id, outcome=str(future.result()))

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop taking work; with ``wait``, let running requests finish first."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


async def _as_coroutine(awaitable: Awaitable[object]) -> object:
    return await awaitable


DeploymentRunner = Callable[..., Any]


def _run_deployment(name: str, **kwargs: Any) -> Any:
    from prefect.deployments import run_deployment

    return run_deployment(name, **kwargs)


class DeploymentDispatcher:
    """Creates a flow run of the ``process-request`` deployment; workers carry it out.

    ``timeout=0`` returns as soon as the run is scheduled. Only the request id is passed:
    Prefect stores and shows parameters, identities never go there.
    """

    def __init__(self, *, deployment: str = DEPLOYMENT, run: DeploymentRunner | None = None):
        self.deployment = deployment
        self._run = run or _run_deployment

    def dispatch(self, request_id: str) -> None:
        """Schedule the run; a failure propagates to the caller, which leaves it to the monitor."""
        flow_run = self._run(self.deployment, parameters={"request_id": request_id}, timeout=0)
        log.info(
            "dispatch_scheduled",
            request_id=request_id,
            flow_run_id=str(getattr(flow_run, "id", "")),
        )
