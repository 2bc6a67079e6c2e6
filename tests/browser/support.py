"""Driving Debian's Chromium with Playwright: launching, screenshots, accessibility checks."""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from feedbackloop.devstack.config import REPO_ROOT

#: Debian's package `chromium` (Makefile DEBIAN_DEPS); `playwright install` is never used.
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}

expect.set_options(timeout=15_000)


@contextmanager
def launch_chromium() -> Iterator[Browser]:
    """Start headless Chromium; fail clearly if Debian's package is missing."""
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Debian's chromium is missing: run `make deps` (apt-get install chromium)"
    )
    args = ["--disable-dev-shm-usage"]  # containers have a tiny /dev/shm
    if os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to sandbox itself as root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots (ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button'))
  .filter(el => {
    if (el.tagName === 'BUTTON') return !(el.textContent.trim() || el.getAttribute('aria-label'));
    return el.labels.length === 0 && !el.getAttribute('aria-label');
  })
  .map(el => el.outerHTML.slice(0, 120))"""


def assert_every_control_is_labelled(page: Page) -> None:
    """Every form control has a <label> (buttons: a visible name)."""
    unlabelled = page.evaluate(UNLABELLED)
    assert unlabelled == [], unlabelled


def assert_focus_is_visible(page: Page) -> None:
    """The focused element (reached by keyboard) draws the focus outline."""
    style = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth]; }"
    )
    assert style[1] == "solid" and style[2] != "0px", style
