"""The demo's access report reads as a person's data, not as the processors' raw fields, on a
phone and on a desk, while data.json keeps every field."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from flows.demo import run_demo
from tests.chromium import headless, page_width, require_chromium, screenshot

pytestmark = pytest.mark.integration

#: Field names (and value shapes) of the processors' APIs that are for machines only.
TECHNICAL = (
    "admin_graphql_api_id", "legacyResourceId", "cart_token", "checkout_token", "browser_ip",
    "clientIp", "multipass_identifier", "multipassIdentifier", "tax_exemptions", "taxExempt",
    "verifiedEmail", "unique_email_id", "contact_id", "external_id", "ip_signup", "web_id",
    "list_id", "gid://",
)  # fmt: skip


def test_demo_access_report_has_no_api_fields_and_fits_a_phone_and_a_desk(
    prefect_api: None, dsar_home: Path, tmp_path: Path
) -> None:
    """No API field name in report.html while data.json holds them; at 390 px and 1280 px
    nothing scrolls sideways; both are kept as screenshots (copied to DSAR_SCREENSHOTS)."""
    rows = run_demo(controller="lunexxa", console=Console(file=io.StringIO(), width=140))
    with zipfile.ZipFile(rows[0]["export_path"]) as package:
        html = package.read("report.html").decode()
        data = package.read("data.json").decode()
    present = [name for name in TECHNICAL if name in data]
    assert len(present) >= 5, present  # the export is complete
    for name in present:
        assert name not in html, name
    sections = html[html.index('id="data"') : html.index('id="purposes"')]
    assert "<table" not in sections  # no 40-column tables of raw fields
    for shown in ("#1001", "Night Cream 50 ml", "PayPal", "Mariahilfer Straße 1", "Maria Muster"):
        assert shown in sections, shown
    assert json.loads(data)["sources"][0]["records_by_category"]["orders"][0]["clientIp"]

    require_chromium()
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    for width in (390, 1280):
        with headless(width) as browser:
            browser.get(page.as_uri())
            scroll, viewport = page_width(browser)
            assert scroll <= viewport, f"{width} px: the page scrolls sideways ({scroll} px)"
            shot = screenshot(browser, tmp_path, f"access-report-{width}")
        assert shot.stat().st_size > 0
    assert re.search(r"@page\s*{\s*size:\s*A4", html)
