"""Whatever arrives, the service accepts or answers 4xx, never 500, and stores nothing unsigned."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from dsar.intake import shopify_hmac
from dsar.notify import SIGNATURE_HEADER
from tests.intake.conftest import (
    SHOPIFY_SECRET,
    VALID,
    TestClient,
    request_count,
    sign,
    stored_requests,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(sorted(VALID)) | st.text(max_size=12)
payloads = st.dictionaries(field_names, json_values, max_size=8)
bodies = st.one_of(
    st.binary(max_size=400),
    payloads.map(lambda p: json.dumps(p).encode()),
    st.builds(lambda p: json.dumps({**VALID, **p}).encode(), payloads),
)
content_types = (
    st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain", ""])
    | header_text
)
signatures = (
    st.none()
    | header_text
    | st.builds(
        lambda t, v: f"t={t},v1={v}", st.integers(min_value=0, max_value=2**40), header_text
    )
)


def _headers(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


@FUZZ
@given(body=bodies, content_type=content_types, signature=signatures, key=st.none() | header_text)
def test_unsigned_deliveries_never_fail_and_never_store(
    client: TestClient,
    engine: Engine,
    body: bytes,
    content_type: str,
    signature: str | None,
    key: str | None,
) -> None:
    """Random bodies and headers without a valid signature: a 4xx, nothing stored."""
    headers = _headers(
        **{"content-type": content_type, SIGNATURE_HEADER: signature, "Idempotency-Key": key}
    )
    response = client.post("/webhooks/contact-form", content=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert set(response.json()) == {"error", "detail"}
    assert request_count(engine) == 0


@FUZZ
@given(
    body=bodies,
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded"]),
)
def test_signed_random_deliveries_are_accepted_or_refused_never_500(
    client: TestClient, engine: Engine, body: bytes, content_type: str
) -> None:
    """Correctly signed garbage is refused with a reason; only a 202 stores anything.

    A 202 may also be the replay of an earlier example (same body, same second, same
    signature): then nothing new is stored, but the answer names a stored request.
    """
    before = request_count(engine)
    headers = {"content-type": content_type, SIGNATURE_HEADER: sign(body)}
    response = client.post("/webhooks/contact-form", content=body, headers=headers)
    assert response.status_code == 202 or 400 <= response.status_code < 500
    after = request_count(engine)
    if response.status_code == 202:
        assert after in (before, before + 1)
        assert response.json()["id"] in {r.id for r in stored_requests(engine)}
    else:
        assert after == before


@FUZZ
@given(
    body=bodies,
    topic=header_text
    | st.sampled_from(["customers/data_request", "customers/redact", "shop/redact"]),
    signed=st.booleans(),
)
def test_shopify_webhook_never_fails(
    client: TestClient, engine: Engine, body: bytes, topic: str, signed: bool
) -> None:
    """Random Shopify deliveries, signed or not, answer 200 or 4xx; unsigned ones store nothing."""
    before = request_count(engine)
    headers: dict[str, Any] = {"content-type": "application/json", "X-Shopify-Topic": topic}
    if signed:
        headers["X-Shopify-Hmac-Sha256"] = shopify_hmac(SHOPIFY_SECRET, body)
    response = client.post("/webhooks/shopify?controller=lunexxa", content=body, headers=headers)
    assert response.status_code == 200 or 400 <= response.status_code < 500
    if not signed:
        assert response.status_code == 401
        assert request_count(engine) == before


@FUZZ
@given(
    body=st.binary(max_size=400) | payloads.map(lambda p: json.dumps(p).encode()),
    content_type=content_types,
)
def test_request_page_and_code_form_never_fail(
    client: TestClient, engine: Engine, body: bytes, content_type: str
) -> None:
    """The browser-facing posts answer 4xx for garbage, and store nothing without a CSRF token."""
    for url in ("/privacy-request", "/verify"):
        response = client.post(url, content=body, headers={"content-type": content_type})
        assert 400 <= response.status_code < 500
    assert request_count(engine) == 0
