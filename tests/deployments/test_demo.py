"""`make demo` tells the whole story; this runs the same code and checks its outcome."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from flows.demo import run_demo

pytestmark = pytest.mark.integration


def test_demo_completes_every_kind_and_reports_where_results_are(
    prefect_api: None, dsar_home: Path
) -> None:
    """Contact form + verification click + five staff requests: all complete, mails sent."""
    output = io.StringIO()
    rows = run_demo(controller="lunexxa", console=Console(file=output, width=140))
    assert [r["kind"] for r in rows] == [
        "access", "portability", "rectification", "restriction", "objection", "erasure",
    ]  # fmt: skip
    assert {r["status"] for r in rows} == {"completed"}
    assert rows[0]["channel"] == "contact_form"
    with zipfile.ZipFile(rows[0]["export_path"]) as package:
        assert "report.html" in package.namelist()
    text = output.getvalue()
    assert "Access package:" in text
    assert "E-mails sent:" in text
    assert "/staff (demo login: demo@staff.invalid / " in text
    assert list((dsar_home / "outbox").glob("*.eml"))


def test_a_request_the_demo_could_not_complete_is_named_with_its_status_and_reason(
    dsar_home: Path,
) -> None:
    """When a run ends short of ``completed``, the demo says which request, what it is and why,
    down to the failed steps, instead of only exiting 1."""
    from flows.demo import _print_outcomes

    output = io.StringIO()
    row = {
        "id": "0123456789abcdef",
        "kind": "erasure",
        "channel": "staff",
        "status": "failed",
        "due": "2026-12-04",
        "api_steps": 3,
        "notices": 0,
        "retained": [],
        "export_path": None,
        "reason": "steps failed: klaviyo erase",
        "failed_steps": ["klaviyo erase: klaviyo: HTTP 503: unavailable"],
    }
    _print_outcomes(Console(file=output, width=200), [row], [])
    text = output.getvalue()
    assert "Not completed: erasure request 01234567 is failed: steps failed: klaviyo erase" in text
    assert "failed step: klaviyo erase: klaviyo: HTTP 503: unavailable" in text


def test_with_keep_the_reader_completes_the_last_task_in_the_staff_console(
    prefect_api: None, dsar_home: Path
) -> None:
    """`dsar demo --keep` leaves one manual task of the erasure open and keeps the services up;
    completing it in the console, with the demo login it printed, completes the request."""
    import re
    import threading
    import time

    import httpx

    output = io.StringIO()
    result: dict[str, list[dict[str, object]]] = {}
    story = threading.Thread(
        target=lambda: result.setdefault(
            "rows",
            run_demo(controller="lunexxa", console=Console(file=output, width=300), keep=True),
        ),
        daemon=True,
    )
    story.start()
    deadline = time.monotonic() + 600
    while "your turn" not in output.getvalue():
        assert story.is_alive(), output.getvalue()[-3000:]
        assert time.monotonic() < deadline, output.getvalue()[-3000:]
        time.sleep(0.5)
    text = output.getvalue()
    login = re.search(r"demo login: (\S+) / (\S+);", text)
    page = re.search(r"open (http://\S+)/staff/requests/([0-9a-f]{32})", text)
    assert login is not None
    assert page is not None
    base, request_id = page.group(1), page.group(2)
    with httpx.Client(base_url=base, timeout=30, follow_redirects=True) as browser:
        token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/staff/login").text)
        assert token is not None
        inbox = browser.post(
            "/staff/login",
            data={
                "email": login.group(1),
                "password": login.group(2),
                "csrf_token": token.group(1),
            },
        )
        assert request_id[:12] in inbox.text
        shown = browser.get(f"/staff/requests/{request_id}").text
        task = re.search(r'name="task_id" value="([0-9a-f]{32})"', shown)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', shown)
        assert task is not None
        assert csrf is not None
        done = browser.post(
            f"/staff/requests/{request_id}/actions/complete",
            data={"task_id": task.group(1), "note": "confirmed by the recipient", "confirm": "yes",
                  "csrf_token": csrf.group(1)},
            files={"evidence": ("confirmation.txt", b"erased", "text/plain")},
        )  # fmt: skip
        assert done.status_code == 200, done.text
    story.join(timeout=120)
    assert not story.is_alive()
    assert {r["status"] for r in result["rows"]} == {"completed"}
