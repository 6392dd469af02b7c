"""The intake service as an ASGI application for a process of its own (production topology).

``uvicorn dsar.intake.main:app`` serves :func:`dsar.intake.app.create_app` with the settings of the
environment. Where requests are carried out is decided here, once, from the environment:
with ``PREFECT_API_URL`` set a Prefect server is running and each stored request becomes a
flow run of the ``process-request`` deployment that the work pool's workers pick up; without
it the flows run in this process, as under ``dsar serve``.

Behind a reverse proxy every request arrives from the proxy's address, so the per-address rate
limit counts all senders together: ``DSAR_INTAKE_RATE_PER_MINUTE`` and ``DSAR_INTAKE_BURST``
size it for the deployment (the proxy should limit per client itself).
"""

from __future__ import annotations

import os
import sys

from fastapi import FastAPI

from dsar.intake.app import create_app
from dsar.intake.guard import RateLimit
from dsar.intake.state import Dispatcher
from dsar.logging import configure_logging
from dsar.settings import ConfigurationError, Settings, get_settings


def rate_limit_of(settings: Settings) -> RateLimit:
    """The per-address limit this process applies (``DSAR_INTAKE_RATE_PER_MINUTE``,
    ``DSAR_INTAKE_BURST``)."""
    return RateLimit(per_minute=settings.intake_rate_per_minute, burst=settings.intake_burst)


def choose_dispatcher(environ: dict[str, str] | None = None) -> Dispatcher:
    """The deployment dispatcher when a Prefect server is configured, else the embedded one."""
    from flows.dispatch import DeploymentDispatcher, EmbeddedDispatcher

    values = os.environ if environ is None else environ
    if values.get("PREFECT_API_URL", "").strip():
        return DeploymentDispatcher()
    return EmbeddedDispatcher()


def create() -> FastAPI:
    """The intake application for this process's environment, logging through the redacting
    chain (no identities in log lines); with ``DSAR_SECRET_BLOCKS`` the shops' secrets are read
    from their Prefect Secret blocks first."""
    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    if settings.secret_blocks:
        import asyncio

        from flows.secrets import load_secret_blocks

        asyncio.run(load_secret_blocks())
    return create_app(
        settings=settings,
        dispatcher=choose_dispatcher(),
        rate_limit=rate_limit_of(settings),
    )


def __getattr__(name: str) -> FastAPI:
    """``app`` is built when uvicorn asks for it, not on import (tests import this module)."""
    if name == "app":
        try:
            application = create()
        except ConfigurationError as exc:  # a clear line, not a traceback, before uvicorn exits
            sys.stderr.write(f"error: {exc}\n")
            raise SystemExit(2) from None
        globals()["app"] = application
        return application
    raise AttributeError(name)
