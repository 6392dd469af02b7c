"""Deliveries that arrive twice, late, or twenty at once still make exactly one request each.

The intake service runs under a real uvicorn server on a free port, and the deliveries come
over real sockets from an ``httpx.AsyncClient``, so identical posts race through separate
worker threads and database transactions as they would in production. The statutory clock
starts once per request (EDPB 01/2022 §159); a duplicate must neither start a second clock nor
a second run.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from dsar.intake import RateLimit, create_app
from dsar.models import Request
from dsar.notify import SIGNATURE_HEADER, sign_payload
from dsar.settings import get_settings

pytestmark = pytest.mark.integration

SECRET = "fault-suite-contact-form-secret"
URL = "/webhooks/contact-form"
AT_ONCE = 20
DELIVERY = {
    "kind": "erasure",
    "email": "lena.fischer@example.com",
    "name": "Lena Fischer",
    "message": "Please delete my account and everything you hold about me.",
    "controller": "lunexxa",
}


@dataclass
class Dispatches:
    """Records the runs the intake starts (thread-safe: handlers run in a thread pool)."""

    started: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def dispatch(self, request_id: str) -> None:
        with self._lock:
            self.started.append(request_id)


@contextmanager
def _served(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 and a free port, for the ``with`` block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the intake server stopped while starting"
        assert time.monotonic() < deadline, "the intake server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def intake(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Dispatches]]:
    """The intake service served over a real socket; its URL and the runs it started."""
    monkeypatch.setenv("DSAR_WEBHOOK_SECRET", SECRET)
    get_settings.cache_clear()
    dispatches = Dispatches()
    app = create_app(dispatcher=dispatches, rate_limit=RateLimit(per_minute=6000, burst=1000))
    with _served(app) as url:
        yield url, dispatches


def _signed(body: bytes, *, at: float | None = None, key: str | None = None) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: sign_payload(SECRET, body, int(time.time() if at is None else at)),
    }
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def _stored(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Request)).one())


async def _post_at_once(url: str, body: bytes, headers: dict[str, str]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=AT_ONCE)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        return await asyncio.gather(
            *(client.post(URL, content=body, headers=headers) for _ in range(AT_ONCE))
        )


class TestConcurrentDeliveries:
    @pytest.mark.parametrize("key", ["form-submission-7f3a", None], ids=["keyed", "signature"])
    def test_twenty_identical_deliveries_at_once_make_one_request(
        self, intake: tuple[str, Dispatches], engine: Engine, key: str | None
    ) -> None:
        """Twenty copies racing in at once (with an Idempotency-Key, or only the signature to
        tell them apart) all get the same receipt; one request is stored and started once."""
        url, dispatches = intake
        body = json.dumps(DELIVERY).encode()
        responses = asyncio.run(_post_at_once(url, body, _signed(body, key=key)))
        assert [r.status_code for r in responses] == [202] * AT_ONCE
        assert len({r.json()["id"] for r in responses}) == 1
        assert _stored(engine) == 1
        assert dispatches.started == [responses[0].json()["id"]]

    def test_different_deliveries_at_once_each_make_one_request(
        self, intake: tuple[str, Dispatches], engine: Engine
    ) -> None:
        """Ten people's posts arriving together, each sent three times, queue for the database
        without loss: ten requests, each copy answered with its own request, each started once."""
        url, dispatches = intake
        people = 10
        posts = []
        for person in range(people):
            body = json.dumps({**DELIVERY, "email": f"person.{person}@example.com"}).encode()
            posts += [(person, body, _signed(body, key=f"form-{person}"))] * 3
        limits = httpx.Limits(max_connections=len(posts))

        async def post_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
                return await asyncio.gather(
                    *(client.post(URL, content=body, headers=headers) for _, body, headers in posts)
                )

        responses = asyncio.run(post_all())
        assert [r.status_code for r in responses] == [202] * len(posts)
        ids: dict[int, set[str]] = {}
        for (person, _, _), response in zip(posts, responses, strict=True):
            ids.setdefault(person, set()).add(response.json()["id"])
        assert all(len(found) == 1 for found in ids.values())
        request_ids = {found.pop() for found in ids.values()}
        assert len(request_ids) == people
        assert _stored(engine) == people
        assert sorted(dispatches.started) == sorted(request_ids)


class TestRedeliveries:
    def test_a_redelivered_webhook_gets_the_first_receipt(
        self, intake: tuple[str, Dispatches], engine: Engine
    ) -> None:
        """A sender that retries (same body, same key) later gets the stored request back."""
        url, dispatches = intake
        body = json.dumps(DELIVERY).encode()
        first = httpx.post(url + URL, content=body, headers=_signed(body, key="retry-1"))
        again = httpx.post(url + URL, content=body, headers=_signed(body, key="retry-1"))
        assert (first.status_code, again.status_code) == (202, 202)
        assert again.json() == first.json()
        assert _stored(engine) == 1
        assert len(dispatches.started) == 1

    def test_a_replayed_delivery_is_the_same_request(
        self, intake: tuple[str, Dispatches], engine: Engine
    ) -> None:
        """The very same signed bytes sent again within the signature window (a replay, or a
        proxy resending) change nothing."""
        url, dispatches = intake
        body = json.dumps(DELIVERY).encode()
        headers = _signed(body)
        first = httpx.post(url + URL, content=body, headers=headers)
        replayed = [httpx.post(url + URL, content=body, headers=headers) for _ in range(3)]
        assert {r.json()["id"] for r in replayed} == {first.json()["id"]}
        assert _stored(engine) == 1
        assert len(dispatches.started) == 1

    def test_a_replay_outside_the_signature_window_is_refused(
        self, intake: tuple[str, Dispatches], engine: Engine
    ) -> None:
        """A captured delivery replayed ten minutes later is refused and stores nothing."""
        url, dispatches = intake
        body = json.dumps(DELIVERY).encode()
        stale = httpx.post(url + URL, content=body, headers=_signed(body, at=time.time() - 600))
        assert stale.status_code == 401
        assert _stored(engine) == 0
        assert dispatches.started == []

    def test_a_reused_key_with_another_body_is_refused(
        self, intake: tuple[str, Dispatches], engine: Engine
    ) -> None:
        """The same Idempotency-Key with different content is a conflict, not a new request."""
        url, dispatches = intake
        body = json.dumps(DELIVERY).encode()
        other = json.dumps({**DELIVERY, "kind": "access"}).encode()
        first = httpx.post(url + URL, content=body, headers=_signed(body, key="form-1"))
        clash = httpx.post(url + URL, content=other, headers=_signed(other, key="form-1"))
        assert (first.status_code, clash.status_code) == (202, 409)
        assert _stored(engine) == 1
        assert len(dispatches.started) == 1
