"""The processor emulators in child processes, one per processor, apart from the engine.

A real processor answers from its own machines: served from a thread of the benchmark's own
process, the emulators would take CPU time from the engine under measurement, and served
together on one event loop (as ``dsar sandbox up`` serves them), a burst of Shopify queries
(each one parsed and validated against the Admin schema) would hold up Klaviyo's answers, an
interference no two real vendors have. So each emulator runs in its own
``python -m bench.emulators`` process, seeded from the same seed (the same people at every
processor) and configured with :meth:`sandbox.Sandbox.create`'s keywords. The parent reads each
child's address from its first line of output and their call logs over
``GET /_sandbox/calls``; closing a child's standard input stops it.

The listening sockets get ``TCP_NODELAY``: ``sandbox.server`` binds them without naming the
protocol, so asyncio does not set it on accepted connections, and each answer on a kept-alive
connection then waits about 40 ms for the client's delayed ACK (Nagle's algorithm), which
would drown the 50 ms of latency the benchmarks inject. ``BENCH_NAGLE=1`` leaves the sockets
as the sandbox makes them, to show the difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

NAMES = ("shopify", "klaviyo", "mailchimp")


@dataclass(frozen=True)
class CallSnapshot:
    """The three emulators' call logs at one moment: requests per route and 429s."""

    requests: Mapping[str, Counter[tuple[str, str]]]
    throttled: Mapping[str, int]
    statuses: Mapping[str, Counter[int]]

    def minus(self, earlier: CallSnapshot) -> CallSnapshot:
        """What happened between ``earlier`` and this snapshot."""
        return CallSnapshot(
            requests={n: self.requests[n] - earlier.requests[n] for n in NAMES},
            throttled={n: self.throttled[n] - earlier.throttled[n] for n in NAMES},
            statuses={n: self.statuses[n] - earlier.statuses[n] for n in NAMES},
        )

    def total(self, name: str) -> int:
        """Requests one emulator received."""
        return sum(self.requests[name].values())

    @property
    def all_requests(self) -> int:
        """Requests all three emulators received."""
        return sum(self.total(n) for n in NAMES)

    @property
    def all_throttled(self) -> int:
        """429s (and throttled GraphQL queries) all three emulators answered."""
        return sum(self.throttled.values())


@dataclass(frozen=True)
class Emulators:
    """Where the emulators listen and the engine settings that point at them."""

    urls: Mapping[str, str]
    env: Mapping[str, str]

    def calls(self) -> CallSnapshot:
        """The call logs now."""
        requests: dict[str, Counter[tuple[str, str]]] = {}
        throttled: dict[str, int] = {}
        statuses: dict[str, Counter[int]] = {}
        with httpx.Client(timeout=10.0) as client:
            for name in NAMES:
                body = client.get(f"{self.urls[name]}/_sandbox/calls").json()
                requests[name] = Counter(
                    {(r["method"], r["path"]): int(r["count"]) for r in body["requests"]}
                )
                throttled[name] = int(body["throttled"])
                statuses[name] = Counter({int(s): int(n) for s, n in body["statuses"].items()})
        return CallSnapshot(requests=requests, throttled=throttled, statuses=statuses)


#: The engine settings each emulator's process describes for its own processor.
_ENV_PREFIX = {name: f"DSAR_{name.upper()}_" for name in NAMES}


@contextmanager
def serve_emulators(**create: Any) -> Iterator[Emulators]:
    """Run the emulators, one child process each, for the ``with`` block.

    ``create`` holds :meth:`sandbox.Sandbox.create` keywords; ``faults`` may be a mapping of
    :class:`sandbox.FaultConfig` fields, applied to all three emulators.
    """
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in NAMES:
            children[name] = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "bench.emulators", json.dumps(create), name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        urls: dict[str, str] = {}
        env: dict[str, str] = {}
        for name, child in children.items():
            assert child.stdout is not None  # noqa: S101 - piped above
            line = child.stdout.readline()
            if not line:
                raise RuntimeError(f"the {name} emulator did not start")
            described = json.loads(line)
            urls[name] = described[name]["url"]
            env.update(
                (key, value)
                for key, value in described["env"].items()
                if key.startswith(_ENV_PREFIX[name])
            )
        yield Emulators(urls=urls, env=env)
    finally:
        for child in children.values():
            if child.stdin is not None:
                child.stdin.close()
        for child in children.values():
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _serve(create: dict[str, Any], name: str) -> None:
    """Serve the ``name`` emulator alone, describing it on the first line of output."""
    import socket

    from sandbox import FaultConfig, Sandbox, server
    from sandbox.server import RunningSandbox

    sock = server._bind(0)
    if os.environ.get("BENCH_NAGLE") != "1":
        # Nagle's algorithm off for every connection the socket accepts.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if isinstance(create.get("faults"), dict):
        create["faults"] = FaultConfig(**create["faults"])
    box = Sandbox.create(**create)
    servers = server._Servers([box.apps()[name]], [sock])
    servers.start(timeout=10.0)
    try:
        url = f"http://{server.HOST}:{sock.getsockname()[1]}"
        c = box.credentials
        keys = (c.shopify_token, c.klaviyo_api_key, c.mailchimp_api_key, c.mailchimp_list_id)
        described = RunningSandbox(box, url, url, url, *keys).describe()
        sys.stdout.write(json.dumps(described) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # the parent closes our stdin to stop us
    finally:
        servers.stop()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]), sys.argv[2])
