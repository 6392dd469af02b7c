"""Serving the emulators over real sockets, and the ``python -m sandbox`` entry point."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sandbox import MAILCHIMP_LIST_ID, MARIA, FaultConfig, Sandbox, running_sandbox
from tests.sandbox.conftest import KLAVIYO_HEADERS, MAILCHIMP_AUTH, SHOP, SHOPIFY_HEADERS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_base(count: int = 3) -> int:
    """``count`` consecutive free ports (re-checked by the servers when they bind)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base < 65000 and all(port_is_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def test_running_sandbox_serves_all_three_and_frees_the_ports() -> None:
    """Over real HTTP each emulator answers under its vendor paths; an erasure with a 0.05 s
    delay completes in real time; afterwards every port is free again."""
    with running_sandbox(customers=20, async_delay=0.05) as running:
        described = running.describe()
        assert set(described) == {"shopify", "klaviyo", "mailchimp", "env"}
        assert set(described["shopify"]) == {"url", "token"}
        assert set(described["klaviyo"]) == {"url", "api_key"}
        assert set(described["mailchimp"]) == {"url", "api_key", "list_id"}
        assert described["env"]["DSAR_SHOPIFY_URL"] == running.shopify_url
        assert set(described["env"]) == {
            "DSAR_SHOPIFY_URL", "DSAR_SHOPIFY_TOKEN", "DSAR_KLAVIYO_URL",
            "DSAR_KLAVIYO_API_KEY", "DSAR_MAILCHIMP_URL", "DSAR_MAILCHIMP_API_KEY",
            "DSAR_MAILCHIMP_LIST_ID",
        }  # fmt: skip
        ports = [int(url.rsplit(":", 1)[1]) for url in (
            running.shopify_url, running.klaviyo_url, running.mailchimp_url)]  # fmt: skip
        with httpx.Client(base_url=running.shopify_url, headers=SHOPIFY_HEADERS) as shop:
            found = shop.get(
                f"{SHOP}/customers/search.json", params={"query": f"email:{MARIA.email}"}
            )
            assert [c["id"] for c in found.json()["customers"]] == [MARIA.shopify_customer_id]
            customer = f"gid://shopify/Customer/{MARIA.shopify_customer_id}"
            erase = (
                'mutation { customerRequestDataErasure(customerId: "' + customer + '") '
                "{ userErrors { code } } }"
            )
            shop.post(f"{SHOP}/graphql.json", json={"query": erase})
            time.sleep(0.1)
            gone = shop.get(
                f"{SHOP}/customers/search.json", params={"query": f"email:{MARIA.email}"}
            )
            assert gone.json()["customers"] == []
        with httpx.Client(base_url=running.klaviyo_url, headers=KLAVIYO_HEADERS) as klaviyo:
            profile = klaviyo.get(f"/api/profiles/{MARIA.klaviyo_profile_id}")
            assert profile.json()["data"]["attributes"]["email"] == MARIA.email
        with httpx.Client(base_url=running.mailchimp_url, auth=MAILCHIMP_AUTH) as mailchimp:
            member = mailchimp.get(
                f"/3.0/lists/{MAILCHIMP_LIST_ID}/members/{MARIA.mailchimp_subscriber_hash}"
            )
            assert member.json()["status"] == "subscribed"
    assert all(port_is_free(port) for port in ports)


def test_dropped_connection_closes_the_socket_mid_response() -> None:
    """Over a real socket, an injected drop reaches the client as RemoteProtocolError."""
    box = Sandbox.create(customers=5, faults={"mailchimp": FaultConfig(drop_rate=1.0)})
    with (
        running_sandbox(sandbox=box) as running,
        httpx.Client(base_url=running.mailchimp_url, auth=MAILCHIMP_AUTH) as mailchimp,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        mailchimp.get("/3.0/ping")


def test_taken_port_base_raises_oserror() -> None:
    """When a requested port is in use, starting fails with OSError and binds nothing."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with (
            pytest.raises(OSError, match="in use"),
            running_sandbox(port_base=taken - 1, customers=5),
        ):
            pass


def _interruptible() -> None:
    """In the child, before it starts: SIGINT delivered and handled as from a terminal, however
    the test runner was started (a background start ignores it; a test may leave it blocked)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def first_line_of(argv: list[str], *, timeout: float) -> Iterator[str]:
    """Start ``python argv`` in the repository (interruptible as from a terminal) and yield the
    first line it prints; then SIGINT ends it, which must exit 0 having printed nothing more."""
    process = subprocess.Popen(  # noqa: S603 - fixed arguments, this very interpreter
        [sys.executable, *argv],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=timeout)
    try:
        yield lines[0]
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert rest == ""


def test_module_entry_point_prints_one_json_line_and_stops_on_ctrl_c() -> None:
    """``python -m sandbox --json``: the first stdout line is the description, nothing
    follows, and SIGINT ends it with status 0."""
    base = free_port_base()
    with first_line_of(["-m", "sandbox", "--port-base", str(base), "--json"], timeout=30) as line:
        described = json.loads(line)
        assert described["shopify"]["url"] == f"http://127.0.0.1:{base}"
        assert described["mailchimp"]["url"] == f"http://127.0.0.1:{base + 2}"
        with httpx.Client(base_url=described["klaviyo"]["url"], headers=KLAVIYO_HEADERS) as c:
            assert c.get("/api/lists").status_code == 200
