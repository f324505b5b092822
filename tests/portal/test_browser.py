"""The portal in a real browser (headless Chromium) against a real service process that
delivers to a real receiver on loopback, on a retry schedule of fractions of a second.

Each page visited is saved as a screenshot in the session's temporary directory
(``portal-screenshots*``); the README shows two of them.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, BrowserContext, Page, expect
from typer.testing import CliRunner

from producersync.cli.main import app as cli_app
from producersync.model.events import NPN_ACTIVATED, NPN_DEACTIVATED, UPDATES_AVAILABLE
from producersync.service.store import accounts, endpoints
from producersync.service.store import portal as store
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.webhooks.verification import verify_signature
from tests.conftest import BACKENDS
from tests.support.browser import chromium
from tests.support.databases import store_url
from tests.support.processes import ServiceProcess, service_process
from tests.support.receiver import Reply, receiver

pytestmark = pytest.mark.slow(70)

FAST = {
    "PRODUCERSYNC_ALLOW_PRIVATE_ENDPOINTS": "true",
    "PRODUCERSYNC_WEBHOOK_POLL_SECONDS": "0.05",
    "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE": "[0.1, 0.2, 0.3]",
    "PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS": "1",
}
VIEWPORT = {"width": 1280, "height": 860}
WAIT_MS = 15_000  # for what the dispatcher sends and htmx refreshes
_NEXT_REFRESH = """() => new Promise(done =>
    document.body.addEventListener("htmx:afterSettle", done, {once: true}))"""


@dataclass
class Harness:
    url: str
    engine: sa.Engine
    service: ServiceProcess
    shots: Path
    backend: str

    def account(self, name: str = "acme") -> accounts.Account:
        with write_transaction(self.engine) as conn:
            return accounts.create_account(conn, f"{name}-{uuid.uuid4().hex[:4]}", sandbox=False)

    def link(self, account: accounts.Account) -> str:
        with write_transaction(self.engine) as conn:
            token, _ = store.issue_link(conn, account.id, dt.timedelta(days=7))
        return f"{self.service.base_url}/portal/login/{token}"

    def shoot(self, page: Page, name: str) -> None:
        page.screenshot(path=self.shots / f"{self.backend}-{name}.png", full_page=True)


# Module-scoped: Playwright's sync API marks its event loop as running in this thread
# until it stops, and a later test in the same worker could not call asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with chromium() as launched:
        yield launched


def _context(browser: Browser, *, javascript: bool = True) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=javascript)
    context.set_default_timeout(WAIT_MS)
    return context


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("portal-screenshots", numbered=False)


@pytest.fixture(scope="module", params=BACKENDS)
def harness(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, shots: Path
) -> Iterator[Harness]:
    directory = tmp_path_factory.mktemp(f"portal-{request.param}")
    with (
        store_url(request.param, directory) as url,
        service_process(url, directory, env=FAST) as svc,
    ):
        engine = open_store(url)
        try:
            yield Harness(url, engine, svc, shots, request.param)
        finally:
            engine.dispose()


def _tab(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Endpoint").get_by_role("link", name=name).click()


def _section(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Portal").get_by_role("link", name=name).click()


def _send_example(page: Page, event_type: str) -> None:
    _tab(page, "Testing")
    page.get_by_label("Send event").select_option(event_type)
    # htmx swaps in the chosen type's example without leaving the page.
    expect(page.locator("#example h2")).to_contain_text(event_type)
    page.get_by_role("button", name="Send Example").click()
    expect(page.get_by_role("status")).to_contain_text("Example sent")


def test_an_account_runs_its_endpoint_from_the_portal(harness: Harness, browser: Browser) -> None:
    acme = harness.account()
    command = ["admin", "portal-link", "--account", acme.name, "--database", harness.url]
    printed = CliRunner().invoke(cli_app, [*command, "--public-url", harness.service.base_url])
    assert printed.exit_code == 0, printed.output
    link = printed.output.strip()
    # Another endpoint, disabled: the list shows both states.
    with write_transaction(harness.engine) as conn:
        spare, _ = endpoints.create_endpoint(
            conn, acme.id, "https://hooks.example.com/producersync", description="Production"
        )
        endpoints.disable_endpoint(conn, acme.id, spare.id, "paused")
    context = _context(browser)
    page = context.new_page()
    with receiver() as rx:
        # Sign in with the link.
        page.goto(link)
        expect(page.get_by_text(acme.name)).to_be_visible()
        harness.shoot(page, "login")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        harness.shoot(page, "endpoints-empty")

        # Add Endpoint, by keyboard: the test event goes out at once.
        page.get_by_role("link", name="Add Endpoint").click()
        expect(page.get_by_role("checkbox", name=re.compile("^producersync "))).to_be_checked()
        page.get_by_label("Endpoint URL").focus()
        page.keyboard.type(rx.url)
        page.keyboard.press("Tab")
        page.keyboard.type("Compliance mirror (staging)")
        harness.shoot(page, "add-endpoint")
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Endpoint created")
        rx.wait_for(lambda got: [r.event["type"] for r in got] == ["webhook.test"])
        endpoint_url = page.url.split("?")[0]
        harness.shoot(page, "overview")

        # Send Example; the attempt appears with its 200 (htmx refreshes the table).
        _send_example(page, NPN_ACTIVATED)
        harness.shoot(page, "testing")
        _tab(page, "Message Attempts")
        sent = page.locator("tbody tr", has_text=NPN_ACTIVATED)
        expect(sent).to_contain_text("200")

        # The receiver fails: two messages, every scheduled attempt of each a 500.
        rx.reply = lambda _r: Reply(status=500, body=b"receiver down for maintenance")
        _send_example(page, NPN_DEACTIVATED)
        _send_example(page, UPDATES_AVAILABLE)
        _tab(page, "Message Attempts")
        failed = page.locator("tbody tr.failed")
        expect(failed).to_have_count(8)
        expect(failed.first).to_contain_text("500")
        expect(failed.first).to_contain_text("receiver down for maintenance")
        page.get_by_role("navigation", name="Show attempts").get_by_role(
            "link", name="Failed"
        ).click()
        expect(page.locator("tbody tr")).to_have_count(8)
        harness.shoot(page, "attempts-failed")

        # The receiver is back. Resend one message: a manual attempt succeeds.
        rx.reply = lambda _r: Reply()
        latest = failed.filter(has_text=UPDATES_AVAILABLE).first
        latest.get_by_role("button", name=re.compile("^Resend")).click()
        expect(page.get_by_role("status")).to_contain_text("queued for one more attempt")
        succeeded = page.locator("tbody tr.succeeded")
        expect(succeeded.first).to_contain_text(UPDATES_AVAILABLE)
        expect(succeeded.first).to_contain_text("manual")
        expect(succeeded.first).to_contain_text("200")

        # Recover the rest: the other failed message since the time the form suggests.
        page.get_by_role("button", name="Recover").click()
        expect(page.get_by_role("status")).to_contain_text("one more attempt: 1")
        expect(succeeded.first).to_contain_text(NPN_DEACTIVATED)
        expect(succeeded.first).to_contain_text("200")
        harness.shoot(page, "attempts")

        # The live refresh leaves the keyboard where it was.
        button = succeeded.first.get_by_role("button", name=re.compile("^Resend"))
        button.focus()
        focused = page.locator(f"#{button.get_attribute('id')}")
        focused.evaluate("element => { element.dataset.old = 'yes' }")
        page.evaluate(_NEXT_REFRESH)
        expect(focused).to_be_focused()
        assert focused.get_attribute("data-old") is None  # the refreshed table's button

        # The endpoints list: enabled, 4 of 12 attempts succeeded; the spare disabled.
        _section(page, "Endpoints")
        row = page.locator("tbody tr", has_text=rx.url)
        expect(row).to_contain_text("Enabled")
        expect(row).to_contain_text("33.3%")
        expect(row).to_contain_text("of 12 attempts")
        expect(page.locator("tbody tr", has_text=spare.url)).to_contain_text("Disabled")
        harness.shoot(page, "endpoints")

        # The secret, once revealed, is the one the deliveries were signed with.
        page.goto(endpoint_url)
        expect(page.get_by_text("whsec_", exact=False).first).to_be_visible()
        assert not page.locator(".secret code").count()
        page.get_by_role("button", name="Reveal").click()
        secret = page.locator(".secret code").inner_text()
        verify_signature(rx.received[-1].body, rx.received[-1].headers, secret)
        harness.shoot(page, "overview-secret")

        # Advanced: a rate limit, disable and enable again.
        _tab(page, "Advanced")
        page.get_by_label("Most attempts per second").fill("50")
        page.get_by_role("button", name="Save rate limit").click()
        expect(page.get_by_role("status")).to_contain_text("Changes saved")
        expect(page.get_by_label("Most attempts per second")).to_have_value("50")
        page.get_by_role("button", name="Disable endpoint").click()
        expect(page.locator(".page-head .badge")).to_have_text("Disabled")
        harness.shoot(page, "advanced")
        page.get_by_role("button", name="Enable endpoint").click()
        expect(page.locator(".page-head .badge")).to_have_text("Enabled")

        # The event catalog.
        _section(page, "Event catalog")
        for name in (UPDATES_AVAILABLE, NPN_ACTIVATED, NPN_DEACTIVATED):
            expect(page.locator(f"section[id='{name}'] pre").first).to_contain_text(name)
        schema = page.locator(f"section[id='{UPDATES_AVAILABLE}'] details")
        schema.get_by_text("JSON schema").click()
        expect(schema.locator("pre")).to_contain_text('"runDate"')
        harness.shoot(page, "event-catalog")

        # The link is spent.
        stranger = _context(browser)
        reused = stranger.new_page()
        answer = reused.goto(link)
        assert answer is not None and answer.status == 410
        expect(reused.get_by_role("heading")).to_have_text("This login link has been used")
        harness.shoot(reused, "link-used")
        stranger.close()

        # Sign out.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading")).to_have_text("You are signed out")
        answer = page.goto(endpoint_url)
        assert answer is not None and answer.status == 401
    context.close()
    with harness.engine.connect() as conn:
        kept = endpoints.list_endpoints(conn, acme.id)
    assert [(e.url, e.rate_limit_per_second, e.enabled) for e in kept if e.id != spare.id] == [
        (rx.url, 50, True)
    ]


def test_another_account_cannot_reach_the_endpoint_even_without_javascript(
    harness: Harness, browser: Browser
) -> None:
    """Every action is a plain form POST and a redirect: the portal works with JavaScript
    off, only without the live refresh."""
    owner, other = harness.account("owner"), harness.account("other")
    with write_transaction(harness.engine) as conn:
        theirs, _secret = endpoints.create_endpoint(conn, owner.id, "http://127.0.0.1:9/theirs")
    context = _context(browser, javascript=False)
    page = context.new_page()
    with receiver() as rx:
        page.goto(harness.link(other))
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        expect(page.get_by_text("No endpoints yet")).to_be_visible()

        answer = page.goto(f"{harness.service.base_url}/portal/endpoints/{theirs.id}")
        assert answer is not None and answer.status == 404
        expect(page.get_by_role("heading")).to_have_text("Endpoint not found")
        assert "theirs" not in page.content()
        harness.shoot(page, "not-found")
        for tab in ("testing", "advanced", "attempts"):
            answer = page.goto(f"{harness.service.base_url}/portal/endpoints/{theirs.id}/{tab}")
            assert answer is not None and answer.status == 404

        page.goto(f"{harness.service.base_url}/portal/endpoints/new")
        page.get_by_label("Endpoint URL").fill(rx.url)
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status")).to_contain_text("Endpoint created")
        _tab(page, "Testing")
        page.get_by_role("button", name="Send Example").click()  # updates_available, the default
        expect(page.get_by_role("status")).to_contain_text("Example sent")
        rx.wait_for(lambda got: len(got) == 2)
        _tab(page, "Message Attempts")
        rows = page.locator("tbody tr.succeeded")
        deadline = time.monotonic() + WAIT_MS / 1000
        while rows.count() < 2 and time.monotonic() < deadline:
            page.reload()
        expect(rows).to_have_count(2)
    context.close()
    with harness.engine.connect() as conn:
        assert endpoints.get_endpoint(conn, owner.id, theirs.id) == theirs


def test_the_live_attempts_table_shows_a_sign_out_from_another_tab(
    harness: Harness, browser: Browser
) -> None:
    acme = harness.account()
    with write_transaction(harness.engine) as conn:
        endpoint, _secret = endpoints.create_endpoint(conn, acme.id, "http://127.0.0.1:9/hook")
    context = _context(browser)
    watching = context.new_page()
    watching.goto(harness.link(acme))
    watching.get_by_role("button", name="Sign in").click()
    watching.goto(f"{harness.service.base_url}/portal/endpoints/{endpoint.id}/attempts")
    expect(watching.get_by_role("navigation", name="Show attempts")).to_be_visible()
    watching.evaluate(_NEXT_REFRESH)  # the table refreshes itself

    other = context.new_page()
    other.goto(f"{harness.service.base_url}/portal/endpoints")
    other.get_by_role("button", name="Sign out").click()
    expect(other.get_by_role("heading")).to_have_text("You are signed out")

    # Its next refresh is refused: the page reloads and says so, instead of going on
    # showing the table as it was.
    expect(watching.get_by_role("heading", name="You are not signed in")).to_be_visible()
    context.close()
