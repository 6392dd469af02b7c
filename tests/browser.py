"""What the shop's website and the subject's browser do against the intake service: post the
signed contact form, and open the confirmation link and press Confirm."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from dsar.notify import SIGNATURE_HEADER, sign_payload

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


def post_contact_form(
    base: str, fields: Mapping[str, Any], *, secret: str, timeout: float = 10
) -> httpx.Response:
    """POST ``fields`` as JSON to the contact-form webhook, signed with ``secret`` now."""
    body = json.dumps(fields).encode()
    return httpx.post(
        f"{base}/webhooks/contact-form",
        content=body,
        headers={
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_payload(secret, body, int(time.time())),
        },
        timeout=timeout,
    )
