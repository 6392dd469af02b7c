"""The appeal form in a real headless Chromium, as the consumer opens it from the denial letter."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.engine import Engine

from dsar.intake import create_app
from tests.chromium import headless, page_width, require_chromium, screenshot
from tests.intake.conftest import NO_LIMIT, RecordingDispatcher
from tests.intake.test_appeal_page import EMAIL, appeals, stored

pytestmark = pytest.mark.integration


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` under uvicorn on 127.0.0.1 and a free port, for the ``with`` block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.mark.parametrize("width", [360, 1280])
def test_consumer_appeals_from_the_letters_link_in_a_browser(
    secrets_env: None, engine: Engine, tmp_path: Path, width: int
) -> None:
    """Open the link, give the address and the reason, send: the appeal is stored and shown."""
    from selenium.webdriver.common.by import By

    require_chromium()
    request_id = stored(engine)
    app = create_app(dispatcher=RecordingDispatcher(), rate_limit=NO_LIMIT)
    with served(app) as base, headless(width) as browser:
        browser.get(f"{base}/privacy-request/appeal?reference={request_id}")
        assert browser.find_element(By.ID, "reference").get_attribute("value") == request_id
        scroll, viewport = page_width(browser)
        assert scroll <= viewport
        browser.find_element(By.ID, "email").send_keys(EMAIL)
        browser.find_element(By.ID, "reason").send_keys("I confirmed the request in time.")
        screenshot(browser, tmp_path, f"appeal-form-{width}")
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        heading = browser.find_element(By.TAG_NAME, "h1").text
        screenshot(browser, tmp_path, f"appeal-received-{width}")
    assert heading == "We have received your appeal"
    [appeal] = appeals(engine)
    assert appeal.request_id == request_id
