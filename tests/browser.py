"""What a subject's browser does with the confirmation link: open the page, press Confirm."""

from __future__ import annotations

import re

import httpx

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def confirm(link: str, *, timeout: float = 10) -> httpx.Response:
    """GET the page (which verifies nothing), then POST its form with the CSRF token and the
    cookie the page set; returns the answer to the POST."""
    with httpx.Client(timeout=timeout) as browser:
        page = browser.get(link)
        page.raise_for_status()
        form = _CSRF.search(page.text)
        assert form is not None, "the confirmation page has no form"
        return browser.post(link, data={"csrf_token": form.group(1)})
