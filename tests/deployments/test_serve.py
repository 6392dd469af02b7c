"""`dsar serve`: one process runs the intake service and the deployments, end to end."""

from __future__ import annotations

import email
import email.policy
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.seed import MARIA_EMAIL
from tests.browser import confirm, post_contact_form
from tests.conftest import REGISTERS
from tests.mailsink import free_port

pytestmark = pytest.mark.integration

SECRET = "serve-test-secret"


def _mails(outbox: Path) -> list[Any]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(outbox.glob("*.eml"))
    ]


def _wait(predicate: Any, *, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def served(tmp_path: Path, sandbox: Any) -> Iterator[tuple[str, Path, subprocess.Popen[str]]]:
    """`dsar serve` in a child process, pointed at the emulators; stopped with SIGINT."""
    port = free_port()
    home = tmp_path / "home"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DSAR_", "PREFECT_"))},
        **sandbox.env(),
        "DSAR_HOME": str(home),
        "DSAR_WEBHOOK_SECRET": SECRET,
        "DSAR_REGISTERS_DIR": str(REGISTERS),
        "DSAR_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "DSAR_ASYNC_WAIT_SECONDS": "20",
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "dsar.cli.root", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(base), seconds=90, what="/healthz")
        yield base, home, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        print((tmp_path / "serve.log").read_text()[-6000:].replace("\\n", "\n"))


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_signed_contact_form_request_is_verified_and_completed(
    served: tuple[str, Path, subprocess.Popen[str]],
) -> None:
    """A signed post is stored (202), the subject clicks the link, the access request completes."""
    base, home, _ = served
    answer = post_contact_form(
        base,
        {
            "controller": "lunexxa",
            "kind": "access",
            "email": MARIA_EMAIL,
            "name": "Maria Muster",
            "language": "en",
        },
        secret=SECRET,
    )
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["id"]
    outbox = home / "outbox"
    challenge = _wait(lambda: _mails(outbox), seconds=90, what="the verification mail")[0]
    text = challenge.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"(http://127\.0\.0\.1:\d+/verify/[A-Za-z0-9_\-]+)", text)
    assert link is not None
    assert confirm(link.group(1)).status_code == 200
    _wait(
        lambda: any("/exports/" in str(m.get_body(preferencelist=("plain",)).get_content())
                    for m in _mails(outbox)),
        seconds=120,
        what="the answer with the download link",
    )  # fmt: skip
    from sqlmodel import Session, create_engine

    from dsar.models import Request

    engine = create_engine(f"sqlite:///{home / 'dsar.db'}")
    with Session(engine) as session:
        stored = session.get(Request, request_id)
        assert stored is not None
        assert stored.status.value == "completed"
    engine.dispose()


def test_serve_prints_the_staff_console_and_a_demo_login_that_signs_in(
    served: tuple[str, Path, subprocess.Popen[str]], tmp_path: Path
) -> None:
    """`dsar serve` names the console's address and a development login that works."""
    base, _, _ = served
    line = _wait(
        lambda: re.search(
            r"Staff console on (\S+/staff) \(demo login: (\S+) / (\S+)\)",
            (tmp_path / "serve.log").read_text(),
        ),
        seconds=30,
        what="the console's line",
    )
    assert line.group(1) == f"{base}/staff"
    with httpx.Client(base_url=base, timeout=10, follow_redirects=True) as browser:
        form = browser.get("/staff/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        answer = browser.post(
            "/staff/login",
            data={"email": line.group(2), "password": line.group(3), "csrf_token": token.group(1)},
        )
        assert answer.status_code == 200
        assert "Open requests" in answer.text
