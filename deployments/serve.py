"""``dsar serve``: the single-machine default — intake service and every deployment in one process.

* the intake service (FastAPI under uvicorn) takes contact-form posts, Shopify compliance
  webhooks, the request page, verification links and downloads; requests it stores are carried
  out in this process (the embedded dispatcher);
* ``prefect.serve`` runs the deployments: ``process-request`` (parameter ``request_id``), the
  daily ``deadline-monitor`` (cron in the controller's time zone), ``complete-manual-task`` and
  ``staff-request`` (typed run form for support staff).

For several machines use ``deployments/prefect.yaml`` with a work pool and workers instead.
"""

from __future__ import annotations

import threading
from typing import Any

#: When the daily monitor runs, in the controller's time zone.
MONITOR_CRON = "0 6 * * *"


def build_deployments(*, timezone: str) -> list[Any]:
    """The engine's deployments as runner deployments for ``prefect.serve``."""
    from prefect.schedules import Cron

    from flows.monitor import deadline_monitor
    from flows.process import complete_manual_task, process_request, process_requests
    from flows.staff import staff_refusal, staff_request

    return [
        process_request.to_deployment(name="process-request", tags=["dsar"]),
        process_requests.to_deployment(name="process-requests", tags=["dsar", "batch"]),
        deadline_monitor.to_deployment(
            name="deadline-monitor",
            schedules=[Cron(MONITOR_CRON, timezone=timezone)],
            tags=["dsar", "monitor"],
        ),
        complete_manual_task.to_deployment(name="complete-manual-task", tags=["dsar", "staff"]),
        staff_request.to_deployment(name="staff-request", tags=["dsar", "staff"]),
        staff_refusal.to_deployment(name="staff-refusal", tags=["dsar", "staff"]),
    ]


def serve(*, host: str, port: int, timezone: str) -> None:
    """Run the intake service in a thread and serve the deployments until interrupted."""
    import uvicorn
    from prefect import serve as prefect_serve

    from dsar.intake import create_app
    from dsar.logging import redact_handlers
    from flows.dispatch import EmbeddedDispatcher
    from flows.embedded import PREFECT_LOGGERS
    from flows.runtime import start_prefect_api

    start_prefect_api()
    dispatcher = EmbeddedDispatcher()
    app = create_app(dispatcher=dispatcher)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="intake", daemon=True)
    thread.start()
    redact_handlers(*PREFECT_LOGGERS)
    try:
        prefect_serve(*build_deployments(timezone=timezone), print_starting_message=False)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        dispatcher.shutdown(wait=False)
