"""Service-wide guards: health check, rate limiting, the token bucket, and the OpenAPI docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from dsar.intake import IntakeRejection, RateLimit, TokenBucket, create_app
from tests.intake.conftest import VALID, TestClient, contact_headers, encode, request_count


def test_healthz_reports_ok_with_a_database_check(client: TestClient) -> None:
    """GET /healthz answers {"status": "ok"} after querying the database."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database(
    secrets_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A database that cannot be opened makes the health check fail with 503, not 500."""
    monkeypatch.setenv("DSAR_DATABASE_URL", f"sqlite:///{tmp_path}")  # a folder, not a file
    from dsar.settings import get_settings

    get_settings.cache_clear()
    with TestClient(create_app()) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "unavailable"}


def test_openapi_docs_are_served(client: TestClient) -> None:
    """/docs serves the API documentation; the contact form's fields are described."""
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/webhooks/contact-form"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert {"email", "name"} <= set(schema["required"])
    assert "access" in str(schema["properties"]["kind"])


class TestRateLimit:
    @pytest.fixture
    def limited(self, secrets_env: None, engine: Engine) -> Iterator[TestClient]:
        app = create_app(rate_limit=RateLimit(per_minute=0.01, burst=2))
        with TestClient(app) as client:
            yield client

    def test_third_request_within_the_burst_is_refused_with_retry_after(
        self, limited: TestClient, engine: Engine
    ) -> None:
        """Past its burst a source address gets 429 with Retry-After, and nothing is stored."""
        statuses = []
        for index in range(3):
            body = encode({**VALID, "message": f"request {index}"})
            statuses.append(
                limited.post("/webhooks/contact-form", content=body, headers=contact_headers(body))
            )
        assert [r.status_code for r in statuses] == [202, 202, 429]
        refused = statuses[2]
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert request_count(engine) == 2

    def test_health_check_is_not_rate_limited(self, limited: TestClient) -> None:
        """Monitoring may poll /healthz as often as it likes."""
        assert {limited.get("/healthz").status_code for _ in range(5)} == {200}


class TestTokenBucket:
    def test_tokens_refill_with_time(self) -> None:
        """A spent bucket allows the next request once a token has grown back."""
        now = [0.0]
        bucket = TokenBucket(RateLimit(per_minute=60, burst=1), clock=lambda: now[0])
        assert bucket.take("a") == 0
        assert bucket.take("a") == pytest.approx(1.0)
        now[0] += 1.0
        assert bucket.take("a") == 0

    def test_sources_are_limited_independently(self) -> None:
        """One noisy address does not use up another's tokens."""
        bucket = TokenBucket(RateLimit(per_minute=1, burst=1), clock=lambda: 0.0)
        bucket.check("a")
        with pytest.raises(IntakeRejection) as refused:
            bucket.check("a")
        assert refused.value.status == 429
        bucket.check("b")

    def test_table_of_sources_stays_bounded(self) -> None:
        """Many addresses cannot grow the table past its bound."""
        now = [0.0]
        bucket = TokenBucket(
            RateLimit(per_minute=60, burst=5), clock=lambda: now[0], max_sources=10
        )
        for index in range(100):
            now[0] += 0.01
            bucket.take(f"10.0.0.{index}")
        assert len(bucket._buckets) <= 10

    def test_a_rate_limit_needs_positive_numbers(self) -> None:
        """A zero rate would lock everyone out for ever."""
        with pytest.raises(ValueError, match="positive"):
            RateLimit(per_minute=0, burst=1)
