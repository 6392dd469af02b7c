"""Prefect's environment for the embedded mode, set before Prefect is first imported.

Offline and on one machine the engine runs Prefect's ephemeral local API: its home goes under
the engine's own folder, telemetry is off (there is no network to send it to).
"""

from __future__ import annotations

import os
from pathlib import Path


def prepare_prefect_env(home: Path) -> None:
    """Default Prefect's settings for embedded use; explicit environment settings win."""
    prefect_home = (home / "prefect").resolve()
    prefect_home.mkdir(parents=True, exist_ok=True)
    defaults = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_EXTRA_LOGGERS": "dsar",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
        # The CLI shows its own progress; Prefect's per-run INFO lines would drown it.
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def start_prefect_api() -> None:
    """Bring Prefect's API up once, here, before any thread needs it.

    Without ``PREFECT_API_URL`` the first client starts a local API server; two threads
    doing that at once (the deployment runner and a request the intake dispatches) race.
    """
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.hello()
