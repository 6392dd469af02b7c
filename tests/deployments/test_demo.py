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
