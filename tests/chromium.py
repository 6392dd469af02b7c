"""A real headless Chromium for the pages people use: Debian's ``chromium`` driven through
Debian's ``chromium-driver`` by Selenium (which is told where both are, so it downloads
nothing). Where either is missing, the test that asks for one skips and says how to install it.

``DSAR_CHROMIUM`` and ``DSAR_CHROMEDRIVER`` name other binaries; ``DSAR_SCREENSHOTS`` names a
folder that receives a copy of every screenshot a test takes, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

INSTALL_HINT = (
    "no headless Chromium here: install Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver) or name them in DSAR_CHROMIUM and DSAR_CHROMEDRIVER"
)


def _binary(variable: str, *names: str) -> str | None:
    named = os.environ.get(variable)
    if named:
        return named if Path(named).is_file() else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_binary() -> str | None:
    return _binary("DSAR_CHROMIUM", "chromium", "chromium-browser", "google-chrome")


def chromedriver_binary() -> str | None:
    return _binary("DSAR_CHROMEDRIVER", "chromedriver")


def require_chromium() -> tuple[str, str]:
    """The paths of Chromium and its driver, or skip the calling test saying how to get them."""
    browser, driver = chromium_binary(), chromedriver_binary()
    if browser is None or driver is None:
        pytest.skip(INSTALL_HINT)
    return browser, driver


@contextmanager
def headless(width: int = 1280, height: int = 900) -> Iterator[WebDriver]:
    """A headless Chromium window of ``width`` × ``height`` CSS pixels; closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    session = webdriver.Chrome(options=options, service=Service(executable_path=driver))
    # A window narrower than Chromium's smallest is emulated as a phone's screen.
    _emulate(session, width, height)
    try:
        yield session
    finally:
        session.quit()


def _emulate(session: WebDriver, width: int, height: int) -> None:
    session.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def screenshot(session: WebDriver, folder: Path, name: str, *, full_page: bool = True) -> Path:
    """Save the window (its whole page height when ``full_page``) as ``folder/name.png`` and copy
    it into ``DSAR_SCREENSHOTS`` when that names a folder; returns the saved file."""
    if full_page:
        height = session.execute_script("return document.documentElement.scrollHeight")
        width = session.execute_script("return window.innerWidth")
        _emulate(session, int(width), max(int(height), 200))
    target = folder / f"{name}.png"
    session.save_screenshot(str(target))
    keep = os.environ.get("DSAR_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(target, Path(keep) / target.name)
    return target


def page_width(session: WebDriver) -> tuple[int, int]:
    """(the page's scroll width, the viewport's width): equal when nothing scrolls sideways."""
    scroll = session.execute_script("return document.documentElement.scrollWidth")
    viewport = session.execute_script("return document.documentElement.clientWidth")
    return int(scroll), int(viewport)
