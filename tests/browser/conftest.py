"""Playwright on Debian's Chromium against the live daphne server and the fake upstream.

The async API on a session-scoped event loop: one browser for the whole session. (The sync
API keeps an asyncio loop marked as running on the main thread while it is open, which
would break Django's ORM in these tests and every async test after them.) Each test gets a
fresh context (cookies, storage). Every page is watched: a JavaScript dialog, an uncaught
page error, a CSP violation or a request to any host but the test server's is recorded for
assert_clean().
Screenshots of failures go to test-artifacts/browser/ (gitignored).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from tests.factories import UserFactory
from tests.live_server import session_cookie

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's Chromium is not installed at /usr/bin/chromium "
            "(apt-get install -y chromium; .ci/run does this)"
        )
    return str(CHROMIUM)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium_path):
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=LAUNCH_ARGS
        )
        yield chromium
        await chromium.close()


@dataclass
class Watch:
    """What a page did that a safe page never does."""

    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a JavaScript dialog opened: {self.dialogs}"
        assert self.foreign_requests == [], f"requests to other hosts: {self.foreign_requests}"
        assert self.page_errors == [], f"uncaught errors in the page: {self.page_errors}"
        # With the Content-Security-Policy on, a blocked inline script or style shows here.
        refused = [line for line in self.console if "Content Security Policy" in line]
        assert refused == [], f"the page broke its Content-Security-Policy: {refused}"


@dataclass
class Browsing:
    """A browser context bound to the live server, and its first page."""

    context: object
    page: object
    base_url: str
    watch: Watch

    async def login_as(self, user) -> None:
        """Log in without the form (the login test uses the real form)."""
        name, value = (await sync_to_async(session_cookie)(user)).split("=", 1)
        await self.context.add_cookies([{"name": name, "value": value, "url": self.base_url}])


def _watch(page, base_url: str, watch: Watch) -> None:
    allowed = urlsplit(base_url).netloc

    async def on_dialog(dialog):
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def on_request(request):
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if parts.netloc != allowed:
            watch.foreign_requests.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.on("console", lambda message: watch.console.append(f"{message.type}: {message.text}"))


async def open_browsing(browser, live, *, locale: str = "ja-JP", **options) -> Browsing:
    context = await browser.new_context(base_url=live.url, locale=locale, **options)
    context.set_default_timeout(TIMEOUT_MS)
    watch = Watch()
    context.on("page", lambda page: _watch(page, live.url, watch))
    page = await context.new_page()
    return Browsing(context=context, page=page, base_url=live.url, watch=watch)


async def close_browsing(browsing: Browsing, request) -> None:
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-120:]
        log = "\n".join([*browsing.watch.console, *browsing.watch.page_errors])
        (ARTIFACTS / f"{name}.console.txt").write_text(log, encoding="utf-8")
        for index, page in enumerate(browsing.context.pages):
            try:
                path = ARTIFACTS / f"{name}-{index}.png"
                await page.screenshot(path=str(path), full_page=True)
            except Exception:  # noqa: BLE001, S112 - a screenshot is best effort
                continue
    await browsing.context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browsing(browser, live, request):
    """A Japanese-locale (ja-JP) browser context on the live server; its pages are watched."""
    browsing = await open_browsing(browser, live)
    yield browsing
    await close_browsing(browsing, request)


@pytest_asyncio.fixture(loop_scope="session")
async def english_browsing(browser, live, request):
    """The same with an English (en-US) browser."""
    browsing = await open_browsing(browser, live, locale="en-US")
    yield browsing
    await close_browsing(browsing, request)


@pytest_asyncio.fixture(loop_scope="session")
async def phone_browsing(browser, live, request):
    """A phone-sized (390×844, touch) Japanese browser."""
    browsing = await open_browsing(
        browser, live, viewport={"width": 390, "height": 844}, has_touch=True
    )
    yield browsing
    await close_browsing(browsing, request)


@pytest.fixture
def page_user(live):
    return UserFactory(username="hanako")


def db(function, *args, **kwargs):
    """Run an ORM call from a browser test (they run inside the event loop)."""
    return sync_to_async(function)(*args, **kwargs)
