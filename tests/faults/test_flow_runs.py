"""One person's requests of every kind, run by the real Prefect flows against failing processors.

Each request runs through ``process_request`` with Prefect's run loggers redacted as ``dsar run``
redacts them (``dsar run`` adds only a progress bar and run tags), staff tasks are closed as
``dsar tasks done`` closes them, and logging is configured as the CLI configures it, at DEBUG,
while the emulators answer 5xx,
drop connections, throttle and now and then send malformed JSON. A failed run is re-run, as the
deadline monitor re-queues it. The run happens once for the module; the tests then check that
every request completed with each processor written once, and that the subject's e-mail address
(also percent-encoded), phone number and name appear nowhere: not in any log record (``httpx``
included) or the engine's rendered log output, not in what reached stdout or stderr, not in the
run logs Prefect's API stored, its artifacts, or its flow runs' names and parameters
(GDPR Art. 5(1)(c), 32).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from dsar.enums import Channel, RequestKind, RequestStatus
from dsar.logging import configure_logging
from dsar.models import RequestCreate
from dsar.register import register_for
from dsar.service import submit_request
from dsar.settings import get_settings
from dsar.store import engine_from_settings, session_scope
from sandbox.faults import FaultConfig
from sandbox.personas import MARIA
from sandbox.server import EMULATORS, running_sandbox
from tests.conftest import REGISTERS
from tests.faults.conftest import point_engine_at, use_api_only_registers
from tests.faults.harness import (
    ASYNC_DELAY,
    TIME_SCALE,
    WRITES,
    Holdings,
    assert_each_erasure_once,
    install_fast_connectors,
    statuses,
)
from tests.flows.conftest import run

pytestmark = pytest.mark.integration

PHONE = "+43 660 1234567"
NEW_LAST_NAME = "Oberhuber"
#: Every kind, the erasure last (it removes the person the others work on). Lunexxa's register
#: is cut to its processors with an API; Luma-Flux (a US shop) keeps its recipients without
#: one, so its erasure also sends notices and leaves tasks for staff.
KINDS = (
    ("lunexxa", RequestKind.ACCESS),
    ("lunexxa", RequestKind.PORTABILITY),
    ("lunexxa", RequestKind.RECTIFICATION),
    ("lunexxa", RequestKind.RESTRICTION),
    ("lunexxa", RequestKind.OBJECTION),
    ("luma-flux", RequestKind.ERASURE),
)
FLAKY = {
    name: FaultConfig(
        seed=seed, error_rate=0.2, drop_rate=0.04, malformed_rate=0.01, throttle_rate=0.02
    )
    for name, seed in zip(EMULATORS, (41, 42, 43), strict=True)
}


@dataclass
class WholeRun:
    """What the module's run left behind, read before its engine home goes away."""

    request_ids: list[str]
    statuses: dict[str, RequestStatus]
    box: Any
    held: Holdings
    records: list[logging.LogRecord]
    engine_output: str
    printed: str
    prefect: dict[str, str]


class _Keep(logging.Handler):
    """Keeps every record as it reaches the root logger, unformatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def _logging_as_the_cli_at_debug(stream: io.StringIO) -> Iterator[_Keep]:
    """``dsar``'s logging (rendered into ``stream``) at DEBUG, every other record kept too.

    Prefect configures the stdlib when it is first imported (``prefect.main``); that happens
    first, or it would reset the levels set here.
    """
    import prefect.main  # noqa: F401

    root, httpx = logging.getLogger(), logging.getLogger("httpx")
    levels = (root.level, httpx.level)
    keep = _Keep()
    configure_logging(level="DEBUG", fmt="json", stream=stream)
    root.setLevel(logging.DEBUG)
    httpx.setLevel(logging.DEBUG)  # it logs every request URL
    root.addHandler(keep)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(levels[0])
        httpx.setLevel(levels[1])
        logging.getLogger("dsar").handlers.clear()
        structlog.reset_defaults()


def _submit(controller: str, kind: RequestKind) -> str:
    details: dict[str, Any] = {}
    if kind is RequestKind.RECTIFICATION:
        details = {"changes": {"last_name": NEW_LAST_NAME}}
    with session_scope() as session:
        request, _ = submit_request(
            session,
            create=RequestCreate(
                controller=controller,
                kind=kind,
                channel=Channel.STAFF,
                email=MARIA.email,
                name=f"{MARIA.first_name} {MARIA.last_name}",
                phone=PHONE,
                verified_by="identity checked by staff",
                details=details,
            ),
            register=register_for(controller),
            actor="test",
        )
        return request.id


def _run_to_the_end(request_id: str) -> None:
    """Run the flow until the request is not failed (the re-queue), then ``dsar tasks done``."""
    from dsar.logging import redact_handlers
    from flows.embedded import PREFECT_LOGGERS, settle_open_tasks

    redact_handlers(*PREFECT_LOGGERS)
    for _ in range(4):
        if run(request_id) != RequestStatus.FAILED.value:
            break
    settle_open_tasks(request_id, note="recipient confirmed by e-mail")


async def _prefect_records(since: datetime) -> dict[str, str]:
    """Run logs, artifacts, and flow-run names and parameters stored by Prefect since ``since``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterStartTime,
        LogFilter,
        LogFilterTimestamp,
    )
    from prefect.logging.handlers import APILogHandler

    await APILogHandler.aflush()
    async with get_client() as client:
        logs: list[Any] = []
        while batch := await client.read_logs(
            LogFilter(timestamp=LogFilterTimestamp(after_=since)), limit=200, offset=len(logs)
        ):
            logs.extend(batch)
        artifacts = await client.read_artifacts()
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(after_=since))
        )
    return {
        "Prefect run logs": "\n".join(log.message for log in logs),
        "Prefect artifacts": "\n".join(
            f"{a.key} {a.description} {a.data}"
            for a in artifacts
            if a.created is not None and a.created >= since
        ),
        "Prefect flow runs": "\n".join(f"{r.name} {r.parameters}" for r in runs),
    }


@pytest.fixture(scope="module")
def whole_run(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> WholeRun:
    """Run every kind once, end to end, in an engine home of the module's own."""
    home = tmp_path_factory.mktemp("whole-run")
    with pytest.MonkeyPatch.context() as patch:
        for key in [k for k in os.environ if k.startswith("DSAR_")]:
            patch.delenv(key)
        patch.setenv("DSAR_HOME", str(home / "dsar-home"))
        patch.setenv("DSAR_REGISTERS_DIR", str(REGISTERS))
        use_api_only_registers(home / "registers", patch)
        install_fast_connectors(patch.setattr)
        engine = engine_from_settings()
        rendered, printed = io.StringIO(), io.StringIO()
        since = datetime.now(UTC)
        with (
            running_sandbox(
                customers=100,
                faults=FLAKY,
                async_delay=ASYNC_DELAY,
                time_scale=TIME_SCALE,
            ) as running,
            _logging_as_the_cli_at_debug(rendered) as keep,
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
        ):
            point_engine_at(running, patch)
            held = Holdings.of(running.sandbox, [MARIA.email])
            ids = [_submit(controller, kind) for controller, kind in KINDS]
            for request_id in ids:
                _run_to_the_end(request_id)
            prefect = asyncio.run(_prefect_records(since))
            run = WholeRun(
                request_ids=ids,
                statuses=statuses(ids),
                box=running.sandbox,
                held=held,
                records=keep.records,
                engine_output=rendered.getvalue(),
                printed=printed.getvalue(),
                prefect=prefect,
            )
        engine.dispose()
        get_settings.cache_clear()
    return run


# ------------------------------------------------------------------------------------------
# Completion
# ------------------------------------------------------------------------------------------


def test_every_kind_run_by_the_prefect_flows_completes_under_faults(whole_run: WholeRun) -> None:
    """5xx, resets, throttling and bad JSON on every processor: each request completes."""
    assert set(whole_run.statuses.values()) == {RequestStatus.COMPLETED}
    retries = [r for r in whole_run.records if "connector_retry" in r.getMessage()]
    assert retries  # the faults did hit the runs


#: The writes the six requests owe the processors, each once: the rectification changes the
#: name everywhere; the restriction unsubscribes, tags and suppresses (the objection then finds
#: all of it in place); the erasure (Luma-Flux: Shopify and Klaviyo) erases.
OWED = {
    "shopify": {
        "customer_updated": 1,
        "email_consent_updated": 1,
        "tags_added": 1,
        "erasure_requested": 1,
    },
    "klaviyo": {"profile_updated": 1, "suppression_requested": 1, "deletion_requested": 1},
    "mailchimp": {"member_updated": 2},  # the new name, then the unsubscription
}


def _writes(box: Any) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for name, kinds in WRITES.items():
        effects = getattr(box, name).calls.snapshot()["side_effects"]
        found[name] = {
            kind: n
            for kind in kinds
            if (n := sum(e["count"] for e in effects if e["kind"] == kind))
        }
    return found


def test_each_processor_received_each_owed_write_once(whole_run: WholeRun) -> None:
    """Retries and re-runs never repeat a write: each processor saw exactly what it was owed."""
    box = whole_run.box
    assert _writes(box) == OWED
    luma_flux = ("shopify", "klaviyo")  # its register has no newsletter list
    assert_each_erasure_once(box, whole_run.held, [MARIA.email], processors=luma_flux)
    assert box.mailchimp.calls.effects("member_deleted_permanently") == 0


# ------------------------------------------------------------------------------------------
# Personal data
# ------------------------------------------------------------------------------------------


def _identity_patterns() -> dict[str, re.Pattern[str]]:
    """What must never appear: the address (plain and percent-encoded), phone, names."""
    local, _, domain = MARIA.email.partition("@")
    digits = re.sub(r"\D", "", PHONE)
    return {
        "email": re.compile(re.escape(local) + r"(@|%40|%2540)" + re.escape(domain), re.I),
        "phone": re.compile(r"\D?".join(digits[2:])),  # +43 660 1234567, 06601234567, ...
        "first name": re.compile(rf"\b{MARIA.first_name}\b"),
        "last name": re.compile(rf"\b{MARIA.last_name}\b"),
        "new last name": re.compile(rf"\b{NEW_LAST_NAME}\b"),
    }


def _leaks(where: str, text: str) -> list[tuple[str, str]]:
    return [(what, where) for what, p in _identity_patterns().items() if p.search(text)]


def _record_leaks(records: list[logging.LogRecord]) -> list[tuple[str, str]]:
    """Leaks in records as a handler would see them: message, exception, every attribute."""
    found: set[tuple[str, str]] = set()
    for record in records:
        text = f"{record.getMessage()} {record.exc_text or ''} {vars(record)}"
        found.update(_leaks(f"log record of {record.name}", text))
    return sorted(found)


def test_no_subject_identity_in_any_log_line(whole_run: WholeRun) -> None:
    """No log record (httpx's request lines included), no line the engine rendered and
    nothing printed names the subject."""
    assert whole_run.engine_output  # the engine did log
    leaks = [
        *_record_leaks(whole_run.records),
        *_leaks("the engine's log output", whole_run.engine_output),
        *_leaks("stdout or stderr", whole_run.printed),
    ]
    assert leaks == []


def test_no_subject_identity_in_what_prefect_stored(whole_run: WholeRun) -> None:
    """Prefect's run logs, artifacts and flow-run names and parameters hold ids only."""
    assert all(whole_run.prefect.values())  # each was read and is not empty
    leaks = [leak for where, text in whole_run.prefect.items() for leak in _leaks(where, text)]
    assert leaks == []
