"""What the topology test drives: the production scripts, the services' APIs, the outbox, and
the processes a killed worker leaves behind.

The scripts under ``deployments/production/`` are run as an operator would, with the ports,
run directory and emulator addresses of the test in their environment. Prefect is read over
its REST API with httpx (the test process keeps its own Prefect settings untouched).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO

SCRIPTS = REPO / "deployments" / "production"
#: Flow-run states in which a run still holds or awaits a process.
ACTIVE = ("SCHEDULED", "PENDING", "RUNNING")
_VERIFY = re.compile(r"(http://127\.0\.0\.1:\d+/verify/[A-Za-z0-9_\-]+)")


def wait_for(predicate: Callable[[], Any], *, seconds: float, what: str, every: float = 0.5) -> Any:
    """Poll ``predicate`` until it returns something true; fail naming ``what`` after a while."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


@dataclass
class Topology:
    """The running services: where they listen, their run directory and environment."""

    run_dir: Path
    env: dict[str, str]
    intake_url: str
    prefect_api: str
    log_names: list[str] = field(default_factory=list)

    def script(self, name: str, *args: str, timeout: float = 240) -> None:
        """Run one of the production scripts; fail with its output when it fails."""
        done = subprocess.run(  # noqa: S603 - our own scripts, fixed arguments
            [str(SCRIPTS / name), *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{name} {shlex.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
            )

    def pid(self, service: str) -> int:
        """The recorded process id of a service started by the scripts."""
        return int((self.run_dir / "pids" / f"{service}.pid").read_text().strip())

    @property
    def outbox(self) -> Path:
        """Where the engine's mails land (no SMTP server configured)."""
        return Path(self.env["DSAR_HOME"]) / "outbox"

    def log_tails(self, lines: int = 40) -> str:
        """The end of every service log, for a failing test's report."""
        parts = []
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)

    # Prefect, over its REST API ----------------------------------------------------------

    def flow_runs(self, *states: str) -> list[dict[str, Any]]:
        """Flow runs in the given state types (all when none is given)."""
        body: dict[str, Any] = {"limit": 200, "offset": 0}
        if states:
            body["flow_runs"] = {"state": {"type": {"any_": list(states)}}}
        runs: list[dict[str, Any]] = []
        while True:
            page = httpx.post(f"{self.prefect_api}/flow_runs/filter", json=body, timeout=10)
            page.raise_for_status()
            runs += page.json()
            if len(page.json()) < body["limit"]:
                return runs
            body["offset"] += body["limit"]

    def state_of(self, flow_run_id: str) -> str:
        """The state type of one flow run."""
        answer = httpx.get(f"{self.prefect_api}/flow_runs/{flow_run_id}", timeout=10)
        answer.raise_for_status()
        return str(answer.json()["state_type"])


def infrastructure_pid(flow_run: dict[str, Any]) -> int | None:
    """The process id a worker recorded for a flow run (``host:pid``), if any."""
    value = flow_run.get("infrastructure_pid") or ""
    tail = str(value).rpartition(":")[2]
    return int(tail) if tail.isdigit() else None


# The outbox ---------------------------------------------------------------------------------


def mails(outbox: Path) -> list[email.message.EmailMessage]:
    """Every message the engine wrote so far."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        found.append(message)
    return found


def text_of(message: email.message.EmailMessage) -> str:
    """The plain-text body of a message."""
    part = message.get_body(preferencelist=("plain",))
    return str(part.get_content()) if part is not None else ""


def verification_links(outbox: Path) -> dict[str, str]:
    """The confirmation link each addressee received, by lower-case address."""
    links = {}
    for message in mails(outbox):
        found = _VERIFY.search(text_of(message))
        if found:
            links[str(message["To"]).strip().lower()] = found.group(1)
    return links


# A worker dies with everything it started --------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry.name))
    return tree


def descendants(root: int) -> set[int]:
    """Every live process below ``root``, whatever session or group it moved to."""
    tree, found, todo = _children(), set(), [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def kill_tree(root: int) -> set[int]:
    """SIGKILL ``root``, its process group and every descendant, as a machine's death would.

    Prefect's process worker starts each flow run in a session of its own, so killing the
    worker's group alone would leave its runs going; everything is frozen first so that no
    process can start another between the listing and the kill.
    """
    victims = {root} | descendants(root)
    for pid in victims:
        _signal(pid, signal.SIGSTOP)
    victims |= descendants(root)
    for pid in victims:
        _signal(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(root, signal.SIGKILL)
    return victims


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def pids_alive(pids: Iterable[int]) -> set[int]:
    """Those of ``pids`` that still run (zombies count as gone)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive
