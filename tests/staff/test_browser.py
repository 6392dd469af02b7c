"""A real headless Chromium through the console: sign in, find the request in the inbox with its
days left, open it, complete its last manual task with an evidence file; the request is then
completed and the audit trail names the staff member."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from dsar.enums import ManualTaskStatus, RequestKind
from dsar.models import AuditEvent, ManualTask, Request, Step
from sandbox.personas import MARIA_EMAIL
from tests.chromium import headless, require_chromium, screenshot
from tests.flows.conftest import run, submit
from tests.intake.conftest import RecordingDispatcher
from tests.mailsink import Inbox
from tests.staff.conftest import LUNEXXA_AGENT, NO_LIMIT, PASSWORD, add_staff


@pytest.fixture
def served(engine: Engine) -> Iterator[str]:
    """The intake service with its console on a free loopback port, in a thread."""
    from dsar.intake import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(dispatcher=RecordingDispatcher(), rate_limit=NO_LIMIT)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the service did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _leave_one_task(request_id: str) -> str:
    """Settle every open task but PayPal's (decisions: not received); returns PayPal's id."""
    from flows.embedded import complete_task, decide_task

    with Session(get_settings_engine()) as session:
        tasks = session.exec(
            select(ManualTask).where(
                ManualTask.request_id == request_id, ManualTask.status == ManualTaskStatus.OPEN
            )
        ).all()
        deciding = {
            s.recipient
            for s in session.exec(select(Step).where(Step.request_id == request_id))
            if s.action == "decide"
        }
    last = next(t for t in tasks if t.recipient == "paypal")
    for task in tasks:
        if task is last:
            continue
        if task.recipient in deciding:
            decide_task(task.id, received=False, note="nothing ties the person to it")
        else:
            complete_task(task.id, note="recipient confirmed by e-mail")
    return last.id


def get_settings_engine() -> Engine:
    from dsar.store import engine_from_settings

    return engine_from_settings()


def test_staff_complete_the_last_manual_task_in_the_browser(
    engine_env: Inbox, engine: Engine, served: str, tmp_path: Path
) -> None:
    require_chromium()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shown
    from selenium.webdriver.support.wait import WebDriverWait

    member_id = add_staff(engine, LUNEXXA_AGENT, "lunexxa")
    request_id = submit(RequestKind.ERASURE, MARIA_EMAIL)
    assert run(request_id) == "awaiting_manual"
    task_id = _leave_one_task(request_id)
    evidence = tmp_path / "paypal-confirmation.txt"
    evidence.write_text("PayPal case 8812: data erased on 4 December.")

    with headless(1280) as browser:
        browser.get(f"{served}/staff/requests")
        assert browser.current_url.endswith("/staff/login")
        browser.find_element(By.NAME, "email").send_keys(LUNEXXA_AGENT)
        browser.find_element(By.NAME, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "sign-in").click()

        wait = WebDriverWait(browser, 60)  # pages load as fast as a busy machine allows
        row = wait.until(
            shown.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-request="{request_id}"]'))
        )
        with Session(engine) as session:
            stored = session.get(Request, request_id)
            assert stored is not None
            due = stored.effective_due_date
        from dsar.staff import views  # the console's own count of days

        left = (due - views.today_of("lunexxa")).days
        assert row.find_element(By.CLASS_NAME, "days-left").text.split()[0] == str(left)
        screenshot(browser, tmp_path, "staff-inbox")

        row.find_element(By.TAG_NAME, "a").click()
        task = wait.until(shown.presence_of_element_located((By.ID, f"task-{task_id}")))
        task.find_element(By.NAME, "note").send_keys("PayPal confirmed the erasure (case 8812)")
        task.find_element(By.NAME, "evidence").send_keys(str(evidence))
        task.find_element(By.NAME, "confirm").click()
        task.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        wait.until(shown.text_to_be_present_in_element((By.ID, "status"), "completed"))
        assert browser.find_element(By.ID, "status").text == "completed"
        actors = [
            cell.get_attribute("data-actor")
            for cell in browser.find_elements(By.CSS_SELECTOR, "#timeline td[data-actor]")
        ]
        assert f"staff:{member_id}" in actors
        shot = screenshot(browser, tmp_path, "staff-request")
    assert (tmp_path / "staff-inbox.png").is_file()
    assert shot.is_file()
    with Session(engine) as session:
        done = session.exec(
            select(AuditEvent).where(
                AuditEvent.request_id == request_id, AuditEvent.action == "manual_task_done"
            )
        ).all()
        stored = session.get(Request, request_id)
    assert stored is not None
    assert stored.status.value == "completed"
    assert f"staff:{member_id}" in {e.actor for e in done}
