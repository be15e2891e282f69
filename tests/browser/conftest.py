"""Real Chromium for the sandbox page: Debian's `chromium` (`.ci/run` installs it with apt when missing) driven by
Playwright for Python through `executable_path` (Playwright's own browser download is not reachable from here).

A test that fails leaves a screenshot of the page in tests/browser/failures/<test name>.png.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

FAILURES = Path(__file__).parent / "failures"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, None]:
    """Keep each phase's outcome on the test, so the page fixture knows whether to keep a screenshot."""
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(OUTCOMES, {})[report.when] = report.failed


OUTCOMES = pytest.StashKey[dict[str, bool]]()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium (.ci/run does it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1500, "height": 950})
    opened = await context.new_page()
    opened.set_default_timeout(20_000)
    yield opened
    if request.node.stash.get(OUTCOMES, {}).get("call"):
        FAILURES.mkdir(exist_ok=True)
        await opened.screenshot(path=str(FAILURES / f"{request.node.name}.png"), full_page=True)
    await context.close()
