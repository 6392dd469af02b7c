"""The intake process picks where requests run from its environment."""

from __future__ import annotations

import pytest

from dsar.intake import choose_dispatcher, rate_limit_of
from dsar.settings import get_settings
from flows.dispatch import DeploymentDispatcher, EmbeddedDispatcher


def test_a_configured_prefect_server_means_the_deployment_dispatcher() -> None:
    """With PREFECT_API_URL set, stored requests go to the process-request deployment."""
    chosen = choose_dispatcher({"PREFECT_API_URL": "http://127.0.0.1:4200/api"})
    assert isinstance(chosen, DeploymentDispatcher)
    assert chosen.deployment == "process-request/process-request"


def test_without_a_prefect_server_requests_run_in_the_intake_process() -> None:
    """Without PREFECT_API_URL (or with it blank) the flows run embedded, as under dsar serve."""
    for environ in ({}, {"PREFECT_API_URL": " "}):
        chosen = choose_dispatcher(environ)
        assert isinstance(chosen, EmbeddedDispatcher)
        chosen.shutdown()


def test_the_rate_limit_is_sized_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """DSAR_INTAKE_RATE_PER_MINUTE and DSAR_INTAKE_BURST size the per-address limit."""
    monkeypatch.setenv("DSAR_INTAKE_RATE_PER_MINUTE", "600")
    monkeypatch.setenv("DSAR_INTAKE_BURST", "50")
    get_settings.cache_clear()
    limit = rate_limit_of(get_settings())
    get_settings.cache_clear()
    assert (limit.per_minute, limit.burst) == (600.0, 50)
