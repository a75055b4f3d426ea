"""Real Chromium for the browser tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser downloads are never used (``playwright install`` is not
run): it launches ``/usr/bin/chromium`` through ``executable_path``. A missing
chromium or Playwright fails the tests under ``CI=true`` and skips them, with the fix,
elsewhere. Screenshots go to ``test-artifacts/`` (gitignored) as small JPEGs of the
viewport only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = os.environ.get("QBIZFED_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1024, "height": 700}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JPEG_QUALITY = 60
MAX_SCREENSHOT_BYTES = 200_000


def missing_browser(reason: str) -> None:
    """Fail under CI (a missing install step must not turn green), skip locally."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the run."""
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        missing_browser(f"no chromium at {CHROMIUM}; fix: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_browser(
            "Playwright is not installed; fix: .venv/bin/pip install playwright==1.65.2"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (no cookies) per test; anything leaving loopback is aborted."""
    context = chromium.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(15_000)

    def only_loopback(route: object) -> None:
        from playwright.sync_api import Route

        assert isinstance(route, Route)
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "http://localhost:")):
            route.continue_()
        else:
            route.abort()

    context.route("**/*", only_loopback)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: BrowserContext) -> Iterator[Page]:
    """A tab whose console errors (CSP refusals, JS exceptions) fail the test."""
    tab = browser_context.new_page()
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    yield tab
    # A CSP refusal (an inline script or style slipping into a page) is an error here.
    assert not problems, f"browser console errors: {problems}"


def screenshot(page: Page, name: str) -> Path:
    """A small JPEG of the viewport in ``test-artifacts/`` (checked small as it is taken)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.jpg"
    page.screenshot(path=str(path), type="jpeg", quality=JPEG_QUALITY, full_page=False)
    assert path.stat().st_size < MAX_SCREENSHOT_BYTES, (path, path.stat().st_size)
    return path
