"""The production topology's test: its marker, and the rule for when it may be skipped."""

from __future__ import annotations

from collections.abc import Generator

import pytest

_CALL_FAILED = pytest.StashKey[bool]()
#: The line ``make topology`` ends with, printed after pytest's own summary.
SUMMARY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Register ``topology`` (the scripted production setup on loopback, minutes long)."""
    config.addinivalue_line(
        "markers",
        "topology: PostgreSQL, Prefect server, workers and intake started by the production "
        "scripts on loopback (skipped without PostgreSQL unless DSAR_TOPOLOGY_REQUIRED=1)",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember whether the test body failed, so the fixture can print the services' logs."""
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


def failed(request: pytest.FixtureRequest) -> bool:
    """Whether the requesting test's body failed."""
    node: pytest.Item = request.node
    return node.stash.get(_CALL_FAILED, False)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Print the topology's outcome as the very last line of the run."""
    line = config.stash.get(SUMMARY, None)
    if line:
        print(line)
