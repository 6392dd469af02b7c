"""The database off the event loop.

A connector step records itself before and after its call to the processor. Those writes are
synchronous (SQLAlchemy sessions); run on the event loop, a burst of them holds up every
answer that has arrived meanwhile, and a client-side rate limiter, which frees a place only
when it has *seen* an answer, then paces the processor by the loop's lag instead of by the
processor's limits. So the step's own records are written from one thread beside the loop:
the loop keeps reading answers while the writes wait their turn. One thread, because the
writes of one process are short and SQLite takes one writer at a time anyway; calls run in
the order they were made, with the caller's context variables (log context).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executor: ThreadPoolExecutor | None = None


def _writer() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dsar-records")
    return _executor


def _forget_after_fork() -> None:
    """A forked child inherits the executor object but not its thread: start a new one."""
    global _executor
    _executor = None


os.register_at_fork(after_in_child=_forget_after_fork)


async def off_loop(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` on the records thread, awaited without blocking the loop."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await loop.run_in_executor(_writer(), call)
