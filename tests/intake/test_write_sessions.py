"""The intake's transactions: on SQLite one at a time per process, on PostgreSQL side by side."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from dsar.intake import write_session
from tests.factories import make_request
from tests.intake.conftest import request_count

THREADS = 8


class Overlap:
    """Counts the transactions open at once and remembers the most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.open = 0
        self.most = 0

    def enter(self) -> None:
        with self._lock:
            self.open += 1
            self.most = max(self.most, self.open)

    def leave(self) -> None:
        with self._lock:
            self.open -= 1


def _all_at_once(work: Callable[[], None]) -> None:
    """Run ``work`` in THREADS threads released together; re-raise the first failure."""
    start = threading.Barrier(THREADS, timeout=10)

    def released() -> None:
        start.wait()
        work()

    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(released) for _ in range(THREADS)]:
            future.result()


class TestWriteSession:
    def test_sqlite_transactions_take_turns_and_all_commit(self, engine: Engine) -> None:
        """On SQLite no two intake transactions are open at once, and each one commits."""
        overlap = Overlap()

        def write() -> None:
            with write_session(engine) as session:
                overlap.enter()
                make_request(session)
                time.sleep(0.005)  # stay inside long enough for the others to try
                overlap.leave()

        _all_at_once(write)
        assert overlap.most == 1
        assert request_count(engine) == THREADS

    def test_a_failed_transaction_lets_the_next_one_in(self, engine: Engine) -> None:
        """An error rolls back and gives up the turn: the next writer gets in and commits."""

        def failing() -> None:
            with write_session(engine) as session:
                make_request(session)
                raise RuntimeError("the handler failed")

        def next_writer() -> None:
            with write_session(engine) as session:
                make_request(session)

        with pytest.raises(RuntimeError):
            failing()
        writer = threading.Thread(target=next_writer, daemon=True)
        writer.start()
        writer.join(timeout=10)
        assert not writer.is_alive(), "the failed transaction still holds the turn"
        assert request_count(engine) == 1

    def test_postgresql_transactions_are_not_serialised(self) -> None:
        """PostgreSQL locks rows, not the database: intake transactions there run side by side.

        No server is needed: a session that runs no statement never connects.
        """
        engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
        together = threading.Barrier(THREADS, timeout=10)

        def meet_inside() -> None:
            with write_session(engine):
                together.wait()  # breaks (and fails the test) if only one can be inside

        _all_at_once(meet_inside)
