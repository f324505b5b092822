"""The portal in a real browser (headless Chromium) against a real service process that
delivers to a real receiver on loopback, on a retry schedule of fractions of a second.

Each page visited is saved as a screenshot in the session's temporary directory
(``portal-screenshots*``), on SQLite; the README shows two of them.

The same service and browser audit the accessibility of every page with axe-core, at
1280 px and at 320 px, and walk the main flows by keyboard alone
(``tests/support/accessibility.py``): on SQLite only, since the HTML does not depend on
the store.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    Route,
    ViewportSize,
    expect,
)
from playwright.sync_api import Error as PlaywrightError
from typer.testing import CliRunner

from producersync.cli.main import app as cli_app
from producersync.model.events import (
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
    UpdatesAvailable,
)
from producersync.service.delivery import management
from producersync.service.delivery.publish import publish_events
from producersync.service.store import accounts, endpoints, outbox
from producersync.service.store import portal as store
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import portal_sessions
from producersync.webhooks.verification import verify_signature
from tests.conftest import BACKENDS
from tests.portal.conftest import HOSTILE_BODY
from tests.support.accessibility import NARROW, Audit, tab_through, without_javascript
from tests.support.browser import chromium
from tests.support.databases import store_url
from tests.support.processes import FAST, ServiceProcess, service_process
from tests.support.receiver import Received, Reply, receiver

pytestmark = pytest.mark.slow(120)

# FAST's polls and timeout (the store's changes the test makes are found within 0.1 s),
# its retries closer still.
SERVICE_ENV = {
    **FAST,
    "PRODUCERSYNC_WEBHOOK_RETRY_SCHEDULE": "[0.1, 0.2, 0.3]",
    "PRODUCERSYNC_WEBHOOK_RETRY_OVERLOAD_SECONDS": "0.1",  # a timeout's retry, not a minute on
}
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
WAIT_MS = 30_000  # for what the dispatcher sends and htmx refreshes, on a loaded machine
REFRESH_MS = 2_000  # attempts.html's hx-trigger
_SETTLED = """() => { window.settled = new Promise(done =>
    document.body.addEventListener("htmx:afterSettle", done, {once: true})) }"""
_SCROLL_AT_REST = """box => new Promise(done => {
    let last = -1;
    const check = () => {
        if (box.scrollLeft === last) return done(last);
        last = box.scrollLeft;
        setTimeout(check, 100);
    };
    check();
})"""


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
        """The page as a person sees it, to look at; on SQLite's harness alone, since the
        pages are the same whatever the store (a full-page shot takes some 0.2 s)."""
        if self.backend == "sqlite":
            page.screenshot(path=self.shots / f"{self.backend}-{name}.png", full_page=True)


# Module-scoped: Playwright's sync API marks its event loop as running in this thread
# until it stops, and a later test in the same worker could not call asyncio.run.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with chromium() as launched:
        yield launched


def _context(
    browser: Browser, *, javascript: bool = True, viewport: ViewportSize = VIEWPORT
) -> BrowserContext:
    context = browser.new_context(viewport=viewport, java_script_enabled=javascript)
    context.set_default_timeout(WAIT_MS)
    # Time in the pages runs as it does, but can be moved on (``_next_refresh``).
    context.clock.install()
    return context


def _next_refresh(page: Page) -> None:
    """Until htmx's next refresh of the live table has settled: the page's clock is moved
    on to it, which fires the page's own timer, rather than its 2 s waited out."""
    page.evaluate(_SETTLED)
    page.clock.fast_forward(REFRESH_MS)
    page.evaluate("() => window.settled")


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
        service_process(url, directory, env=SERVICE_ENV) as svc,
    ):
        engine = open_store(url)
        try:
            yield Harness(url, engine, svc, shots, request.param)
        finally:
            engine.dispose()


def _follow(page: Page, navigation: str, name: str) -> None:
    """Follow a navigation link and wait for the page it opens to load: a control used
    before htmx is bound (at DOMContentLoaded) does nothing, as a select changed at once
    on a loaded machine did (its example never swapped in)."""
    link = page.get_by_role("navigation", name=navigation).get_by_role("link", name=name)
    target = link.get_attribute("href")
    link.click()
    page.wait_for_url(f"**{target}")


def _tab(page: Page, name: str) -> None:
    _follow(page, "Endpoint", name)


def _section(page: Page, name: str) -> None:
    _follow(page, "Portal", name)


def _send_example(page: Page, event_type: str) -> None:
    _tab(page, "Testing")
    page.get_by_label("Send event").select_option(event_type)
    # htmx swaps in the chosen type's example without leaving the page.
    expect(page.locator("#example h2")).to_contain_text(event_type)
    page.get_by_role("button", name="Send Example").click()
    expect(page.get_by_role("status")).to_contain_text("Example sent")


def _no_secret_shown(page: Page, secret: str) -> None:
    expect(page.locator("main")).to_be_visible()
    assert "whsec_" not in page.content() and secret not in page.content(), page.url


def _back_and_reload(page: Page, secret: str, says: str) -> None:
    """Back from the endpoint to the answer that showed the secret, which the browser
    has not kept (no-store, no htmx snapshot), then reloaded: neither shows it again."""
    endpoint_url = page.url
    with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):  # not kept: no-store
        page.go_back()
    expect(page.locator("body")).to_contain_text("ERR_CACHE_MISS")  # Chromium's own page
    expect(page.locator("body")).not_to_contain_text(secret)
    page.reload()  # sends the form again
    expect(page.get_by_role("status")).to_contain_text(says)
    assert page.url.split("?")[0] == endpoint_url.split("?")[0]
    _no_secret_shown(page, secret)


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
        for box in page.get_by_role("checkbox").all():  # none ticked: every event type
            expect(box).not_to_be_checked()
        page.get_by_label("Endpoint URL").focus()
        page.keyboard.type(rx.url)
        page.keyboard.press("Tab")
        page.keyboard.type("Compliance mirror (staging)")
        harness.shoot(page, "add-endpoint")
        _tab_to(page, "Create")  # Enter in the description is a line break
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Endpoint created")
        # The answer shows the secret, once: the one the test event is signed with.
        secret = page.locator(".secret textarea").input_value()
        rx.wait_for(lambda got: [r.event["type"] for r in got] == ["webhook.test"])
        verify_signature(rx.received[0].body, rx.received[0].headers, secret)
        harness.shoot(page, "endpoint-created")
        page.get_by_role("link", name="Go on to the endpoint").click()
        expect(page).to_have_url(re.compile(r"/endpoints/ep_[0-9a-f]+$"))
        endpoint_url = page.url
        endpoint_id = endpoint_url.rsplit("/", 1)[1]
        _no_secret_shown(page, secret)
        # Back to the answer, and reloaded there: the form is sent again, and leads to
        # the endpoint without the secret.
        _back_and_reload(page, secret, "This form was sent before: the endpoint was created")
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
        _wait_for_deliveries(harness, endpoint_id)  # rather than refreshes waited for
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

        # A failed attempt in full, on its own page (the store's lookup, on each backend).
        page.locator("tbody tr").first.get_by_role("link", name=re.compile("^Details")).click()
        expect(page.locator("pre.response")).to_have_text("receiver down for maintenance")
        expect(page.locator(".facts")).to_contain_text("500")
        page.get_by_role("link", name="Back to Message Attempts").click()
        page.get_by_role("navigation", name="Show attempts").get_by_role(
            "link", name="Failed"
        ).click()
        expect(page.locator("tbody tr")).to_have_count(8)

        # The receiver is back. Resend one message: a manual attempt succeeds.
        rx.reply = lambda _r: Reply()
        latest = failed.filter(has_text=UPDATES_AVAILABLE).first
        latest.get_by_role("button", name=re.compile("^Resend")).click()
        expect(page.get_by_role("status")).to_contain_text("queued for one more attempt")
        # Back on the view it was sent from (it led to All), where no success is listed.
        outcomes = page.get_by_role("navigation", name="Show attempts")
        expect(outcomes.get_by_role("link", name="Failed")).to_have_attribute(
            "aria-current", "page"
        )
        outcomes.get_by_role("link", name="All").click()
        succeeded = page.locator("tbody tr.succeeded")
        expect(succeeded.first).to_contain_text(UPDATES_AVAILABLE)
        expect(succeeded.first).to_contain_text("manual")
        expect(succeeded.first).to_contain_text("200")

        # Recover the rest: the other failed message since the time the form suggests.
        page.get_by_role("button", name="Recover").click()
        expect(page.get_by_role("status")).to_contain_text("one more attempt: 1")
        _wait_for_deliveries(harness, endpoint_id)
        _next_refresh(page)
        expect(succeeded.first).to_contain_text(NPN_DEACTIVATED)
        expect(succeeded.first).to_contain_text("200")
        harness.shoot(page, "attempts")

        # The live refresh leaves the keyboard where it was.
        button = succeeded.first.get_by_role("button", name=re.compile("^Resend"))
        button.focus()
        focused = page.locator(f"#{button.get_attribute('id')}")
        focused.evaluate("element => { element.dataset.old = 'yes' }")
        _next_refresh(page)
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

        # Messages: an example, sent to this endpoint alone, in full; then sent from its
        # page to the spare endpoint, which did not get it (and, disabled, waits).
        _section(page, "Messages")
        page.locator("tbody tr", has_text=UPDATES_AVAILABLE).first.get_by_role("link").click()
        payload = page.locator("section", has=page.get_by_role("heading", name="Message payload"))
        expect(payload.locator("pre")).to_contain_text('"runDate"')
        expect(page.locator("tbody tr", has_text=rx.url)).to_contain_text("Succeeded")
        harness.shoot(page, "message")
        page.get_by_label(spare.url).check()
        page.get_by_role("button", name="Send", exact=True).click()
        expect(page.get_by_role("status")).to_contain_text("queued for one more attempt")
        assert f"/endpoints/{spare.id}/attempts" in page.url

        # Rotate secret shows the new secret, once: the one the next events are signed
        # with (the old one beside it, for the grace period).
        page.goto(endpoint_url)
        _no_secret_shown(page, secret)
        page.get_by_role("button", name="Rotate secret").click()
        expect(page.get_by_role("status")).to_contain_text("Secret rotated")
        rotated = page.locator(".secret textarea").input_value()
        assert rotated != secret
        harness.shoot(page, "secret-rotated")
        page.get_by_role("link", name="Go on to the endpoint").click()
        _no_secret_shown(page, rotated)
        _back_and_reload(page, rotated, "The secret was rotated after this page was opened")
        _send_example(page, NPN_ACTIVATED)
        _wait_for_deliveries(harness, endpoint_id)
        _tab(page, "Message Attempts")
        expect(page.locator("tbody tr.succeeded", has_text=NPN_ACTIVATED)).to_have_count(2)
        verify_signature(rx.received[-1].body, rx.received[-1].headers, rotated)

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
    """Every action is a plain form POST, answered with a redirect or (Create, Rotate
    secret) a page: the portal works with JavaScript off, only without the live
    refresh."""
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
        expect(page.locator(".secret textarea")).to_be_visible()
        page.get_by_role("link", name="Go on to the endpoint").click()
        _tab(page, "Testing")
        # No htmx to swap in the chosen type's example: the one shown was the default's,
        # of another type than the one sent. A button shows it, and sends nothing.
        page.get_by_label("Send event").select_option(NPN_ACTIVATED)
        page.get_by_role("button", name="Show example").click()
        expect(page.locator("#example h2")).to_contain_text(NPN_ACTIVATED)
        expect(page.locator("#example pre")).to_contain_text(f'"type": "{NPN_ACTIVATED}"')
        expect(page.get_by_label("Send event")).to_have_value(NPN_ACTIVATED)
        page.get_by_role("button", name="Send Example").click()
        expect(page.get_by_role("status")).to_contain_text("Example sent")
        rx.wait_for(lambda got: len(got) == 2)
        assert [got.event["type"] for got in rx.received] == ["webhook.test", NPN_ACTIVATED]
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
    _next_refresh(watching)  # the table refreshes itself

    other = context.new_page()
    other.goto(f"{harness.service.base_url}/portal/endpoints")
    other.get_by_role("button", name="Sign out").click()
    expect(other.get_by_role("heading")).to_have_text("You are signed out")

    # Its next refresh is refused: the page reloads and says so, instead of going on
    # showing the table as it was.
    watching.clock.fast_forward(REFRESH_MS)
    expect(watching.get_by_role("heading", name="You are not signed in")).to_be_visible()
    context.close()


def _publish(harness: Harness, endpoint: endpoints.Endpoint, event_type: str, times: int) -> None:
    with write_transaction(harness.engine) as conn:
        for _ in range(times):
            management.send_example(conn, endpoint, event_type)


def _wait_for_deliveries(harness: Harness, *endpoint_ids: str) -> None:
    """Until every delivery to the endpoints has succeeded or failed for good."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        with harness.engine.connect() as conn:
            states = [
                d.state for e in endpoint_ids for d in outbox.list_deliveries(conn, endpoint_id=e)
            ]
        if outbox.PENDING not in states:
            return
        assert time.monotonic() < deadline, f"deliveries still pending: {states}"
        time.sleep(0.1)


# The form is the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_the_edit_form_takes_back_the_descriptions_the_api_takes(
    harness: Harness, browser: Browser
) -> None:
    """A description of two lines and 500 characters, most of them emoji, as the API
    takes it. The one-line input dropped its line break on any save; its maxlength of 500,
    which a browser counts in UTF-16 units (an emoji is two), then kept it from being
    edited at all."""
    acme = harness.account("emoji")
    head = "Mirror\nOn call: "
    description = head + "\U0001f600" * (500 - len(head))
    with write_transaction(harness.engine) as conn:
        endpoint, _ = endpoints.create_endpoint(
            conn, acme.id, "https://hooks.example.com/x", description=description
        )

    def saved() -> endpoints.Endpoint:
        with harness.engine.connect() as conn:
            found = endpoints.get_endpoint(conn, acme.id, endpoint.id)
        assert found is not None
        return found

    context = _context(browser)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    edit = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}/edit"
    status = page.get_by_role("status")

    # Another field changed: the description is kept as it is.
    page.goto(edit)
    expect(page.get_by_label("Description")).to_have_value(description)
    page.get_by_role("checkbox", name=re.compile(f"^{NPN_ACTIVATED} ")).check()
    page.get_by_role("button", name="Save").click()
    expect(status).to_contain_text("Changes saved")
    assert saved().description == description
    assert NPN_ACTIVATED in (saved().event_types or [])

    # The description edited by keys: its last emoji for a "!".
    page.goto(edit)
    page.get_by_label("Description").press("ControlOrMeta+End")
    page.keyboard.press("Backspace")
    page.keyboard.type("!")
    page.get_by_role("button", name="Save").click()
    expect(status).to_contain_text("Changes saved")
    assert saved().description == description[:-1] + "!"
    context.close()


# The pages are the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_every_page_has_no_accessibility_violation(harness: Harness, browser: Browser) -> None:
    """axe-core's WCAG 2.0 and 2.1 A and AA rules and best practices, on every page and
    state of the portal, with JavaScript and, where a page differs, without; each at
    1280 px and at 320 px (a phone, or 400 % zoom); and at both, nothing wider than the
    box it is in but in a region that scrolls, and nothing said only in a hover title
    (``Audit``). On SQLite only: the pages are the same HTML whatever the store, and this
    is about the HTML."""
    audit = Audit()
    base = f"{harness.service.base_url}/portal"
    # A name with no space to break at, as long as one can be: it must not widen a page.
    acme = harness.account("AcmeInsuranceBrokerageAndRiskServicesOfTheGreaterTriStateArea")
    context = _context(browser)
    audit.watch(context)
    page = context.new_page()

    def visit(name: str, path: str, status: int = 200) -> None:
        answer = page.goto(f"{base}{path}")
        assert answer is not None and answer.status == status, (name, answer and answer.status)
        audit.check(page, name)

    def submit(name: str, status: int, button: str, **fields: str) -> None:
        """Fill in and submit the button's form past the browser's own checks (required,
        min), as a browser that makes none would, and audit the page it answers with."""
        form = page.locator("form", has=page.get_by_role("button", name=button, exact=True))
        form.evaluate("form => { form.noValidate = true }")
        for label, value in fields.items():
            page.get_by_label(label, exact=True).fill(value)
        with page.expect_navigation() as answer:
            form.get_by_role("button", name=button, exact=True).click()
        assert answer.value is not None and answer.value.status == status, name
        audit.check(page, name)

    def rx_reply(got: Received) -> Reply:
        failing = got.event["type"] == NPN_DEACTIVATED
        return Reply(500, body=HOSTILE_BODY.encode()) if failing else Reply()

    with receiver(rx_reply) as rx:
        link = harness.link(acme)
        page.goto(link)
        audit.check(page, "sign in")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text("No endpoints yet")).to_be_visible()
        audit.check(page, "endpoints, none yet")
        with write_transaction(harness.engine) as conn:
            mixed, _ = endpoints.create_endpoint(
                conn, acme.id, rx.url, description="Mirror\nof the producer records"
            )
            good, _ = endpoints.create_endpoint(conn, acme.id, f"{rx.url}/good")
            down, _ = endpoints.create_endpoint(
                conn, acme.id, "http://127.0.0.1:9/closed", event_types=[UPDATES_AVAILABLE]
            )
            spare, _ = endpoints.create_endpoint(conn, acme.id, "https://hooks.example.com/x")
            endpoints.disable_endpoint(conn, acme.id, spare.id, "paused")
        # 20 messages answered and 1 failing (fair: 20 of 24 attempts, unless a timeout on
        # a loaded machine adds some), 1 of 1 (good), 0 of 4 without an answer (poor).
        # Delivered while the sign-in pages are audited.
        _publish(harness, mixed, UPDATES_AVAILABLE, 20)
        _publish(harness, mixed, NPN_DEACTIVATED, 1)
        _publish(harness, good, NPN_ACTIVATED, 1)
        _publish(harness, down, UPDATES_AVAILABLE, 1)
        # Another account's links: a spent link of acme's takes this browser to Endpoints.
        other = harness.account("other")
        with write_transaction(harness.engine) as conn:
            used, _ = store.issue_link(conn, other.id, dt.timedelta(days=1))
            store.redeem_link(conn, used, dt.timedelta(hours=1))
            token, _ = store.issue_link(conn, other.id, dt.timedelta(seconds=-1))
            fresh, _ = store.issue_link(conn, other.id, dt.timedelta(days=1))
        visit("sign in, pressed too late", f"/login/{fresh}?notice=sign_in_again")
        visit("link used (410)", f"/login/{used}", 410)
        visit("link expired (410)", f"/login/{token}", 410)
        visit("link unknown (404)", "/login/psl_nothing", 404)

        _wait_for_deliveries(harness, mixed.id, good.id, down.id)
        visit("endpoints, enabled and disabled", "/endpoints")

        visit("add endpoint", "/endpoints/new")
        url_refused = {"Endpoint URL": "ftp://hooks.example.com/producersync"}
        submit("add endpoint, URL refused (400)", 400, "Create", **url_refused)
        created = {"Endpoint URL": f"{rx.url}/created"}
        submit("endpoint created, secret shown once", 200, "Create", **created)
        expect(page.locator(".secret textarea")).to_be_visible()
        visit("edit endpoint", f"/endpoints/{mixed.id}/edit")
        with write_transaction(harness.engine) as conn:  # as another tab would meanwhile
            changed = endpoints.EndpointChanges(description="Mirror\nof the producers")
            endpoints.update_endpoint(conn, acme.id, mixed.id, changed)
        submit("edit endpoint, changed since it was opened (409)", 409, "Save")
        visit("add endpoint", "/endpoints/new")
        page.locator("input[name=csrf]").nth(1).evaluate("input => { input.value = 'stale' }")
        submit("add endpoint, token stale, kept as typed (403)", 403, "Create", **created)

        visit("overview", f"/endpoints/{mixed.id}")
        visit("overview with a notice", f"/endpoints/{mixed.id}?notice=rotated_before")
        # The answers that show a secret, once; it must not widen a 320 px page.
        submit("secret rotated, shown once", 200, "Rotate secret")
        expect(page.locator(".secret textarea")).to_be_visible()
        visit("overview, disabled", f"/endpoints/{spare.id}")

        visit("testing", f"/endpoints/{good.id}/testing")
        page.get_by_label("Send event").select_option(NPN_ACTIVATED)
        expect(page.locator("#example h2")).to_contain_text(NPN_ACTIVATED)
        audit.check(page, "testing, another example swapped in")
        page.get_by_role("button", name="Send Example").click()
        expect(page.get_by_role("status")).to_contain_text("Example sent")
        audit.check(page, "testing, example sent")
        # The chosen option's value changed under the form: no change event, no htmx.
        page.get_by_label("Send event").evaluate(
            "select => { select.options[select.selectedIndex].value = 'x' }"
        )
        submit("testing, unknown type (400)", 400, "Send Example")
        with without_javascript(page):
            visit("testing without JavaScript", f"/endpoints/{good.id}/testing")
        visit("testing, disabled, example queued", f"/endpoints/{spare.id}/testing?sent=evt_1")

        visit("attempts", f"/endpoints/{mixed.id}/attempts")
        _next_refresh(page)
        audit.check(page, "attempts, refreshed by htmx")
        with without_javascript(page):
            visit("attempts without JavaScript", f"/endpoints/{mixed.id}/attempts")
        visit("attempts, paused", f"/endpoints/{mixed.id}/attempts?updates=paused")
        visit("attempts, failed", f"/endpoints/{mixed.id}/attempts?outcome=failed")
        visit("attempts, succeeded", f"/endpoints/{mixed.id}/attempts?outcome=succeeded")
        page.get_by_role("navigation", name="Show attempts").get_by_role("link", name="All").click()
        page.get_by_role("link", name="Older").click()
        expect(page.get_by_role("link", name="Newest")).to_be_visible()
        expect(page.get_by_role("link", name="Newer")).to_be_visible()
        audit.check(page, "attempts, older page")
        visit("attempts, no answer", f"/endpoints/{down.id}/attempts")
        visit("attempts, none", f"/endpoints/{spare.id}/attempts")
        visit("attempts, none failed", f"/endpoints/{good.id}/attempts?outcome=failed")
        visit("attempts, resent", f"/endpoints/{mixed.id}/attempts?notice=resent")
        visit("attempts, recovered", f"/endpoints/{mixed.id}/attempts?notice=recovered&queued=1")
        since = {"Recover failed messages since (UTC)": "2000-01-01T00:00"}
        submit("attempts, recover refused (400)", 400, "Recover", **since)

        # An attempt in full: the receiver's markup shown as text, not parsed. One its
        # 500 answered (the latest failed may be an update that timed out on a loaded
        # machine, with no response to show).
        with harness.engine.connect() as conn:
            failed = outbox.list_attempts(conn, endpoint_id=mixed.id, succeeded=False)
            hostile = next(a for a in failed if a.status_code == 500)
            (unanswered,) = outbox.list_attempts(conn, endpoint_id=down.id, limit=1)
        visit("attempt, its whole response", f"/endpoints/{mixed.id}/attempts/{hostile.id}")
        expect(page.locator("pre.response")).to_have_text(HOSTILE_BODY)
        expect(page.locator("main img, main script")).to_have_count(0)
        visit("attempt, no response", f"/endpoints/{down.id}/attempts/{unanswered.id}")
        visit("attempt not found (404)", f"/endpoints/{mixed.id}/attempts/{unanswered.id}", 404)

        visit("advanced", f"/endpoints/{mixed.id}/advanced")
        rate = {"Most attempts per second": "0"}
        submit("advanced, rate limit refused (400)", 400, "Save rate limit", **rate)
        submit("advanced, delete not confirmed (400)", 400, "Delete endpoint")
        visit("advanced, disabled", f"/endpoints/{spare.id}/advanced")

        visit("messages", "/messages")
        visit("messages, none match", "/messages?until=2000-01-01T00:00")
        visit("messages, failed", "/messages?state=failed")
        visit("messages, filter refused (400)", "/messages?since=yesterday", 400)
        visit("message, sent to some endpoints", f"/messages/{hostile.message_id}")

        visit("event catalog", "/event-types")
        for summary in page.get_by_text("JSON schema").all():
            summary.click()
        audit.check(page, "event catalog, schemas open")

        visit("page not found (404)", "/nothing-here", 404)
        visit("endpoint not found (404)", "/endpoints/ep_nothing", 404)
        visit("address not valid (400)", f"/endpoints/{mixed.id}/attempts?outcome=some", 400)
        page.goto(f"{base}/endpoints/{mixed.id}")
        rotate = page.locator("form", has=page.get_by_role("button", name="Rotate secret"))
        rotate.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
        submit("form refused (403)", 403, "Rotate secret")
        page.goto(f"{base}/endpoints/new")
        other_tab = context.new_page()
        other_tab.goto(f"{base}/endpoints")
        with other_tab.expect_navigation():
            other_tab.get_by_role("button", name="Sign out").click()
        audit.check(other_tab, "signed out")
        other_tab.close()
        submit("add endpoint, signed out meanwhile, kept as typed (401)", 401, "Create", **created)
        visit("not signed in (401)", "/endpoints", 401)
    context.close()

    assert len(audit.pages) >= 40
    assert not audit.report(), "axe-core found accessibility violations:\n" + audit.report()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_form_sent_after_its_session_expired_keeps_what_was_typed(
    harness: Harness, browser: Browser
) -> None:
    """The session ran out while the Add Endpoint form was open: pressing Create showed
    a page that said so, and what was typed was gone, Back included. The form comes back
    as typed, nothing done; signed in again in another tab, it is sent from there."""
    acme = harness.account()
    context = _context(browser, viewport=NARROW)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Add Endpoint").click()
    url = "http://127.0.0.1:9/ünïcode/" + "x" * 300
    description = "Line one é 日本 ✓\n" + "long " * 80
    page.get_by_label("Endpoint URL").fill(url)
    page.get_by_label("Description").fill(description)
    page.get_by_role("checkbox", name=re.compile(re.escape(NPN_ACTIVATED))).check()
    with write_transaction(harness.engine) as conn:  # twelve hours later
        conn.execute(
            portal_sessions.update()
            .where(portal_sessions.c.account_id == acme.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )

    def kept(says: str) -> None:
        expect(page.get_by_role("alert")).to_contain_text(says)
        expect(page.get_by_role("alert")).to_be_focused()
        expect(page.get_by_label("Endpoint URL")).to_have_value(url)
        expect(page.get_by_label("Description")).to_have_value(description)
        ticked = page.get_by_role("checkbox", checked=True)
        expect(ticked).to_have_count(1)
        expect(ticked).to_have_value(NPN_ACTIVATED)
        with harness.engine.connect() as conn:
            assert endpoints.list_endpoints(conn, acme.id) == []

    page.get_by_role("button", name="Create").click()
    kept("You are not signed in: nothing was saved")
    other_tab = context.new_page()
    other_tab.goto(harness.link(acme))
    other_tab.get_by_role("button", name="Sign in").click()
    expect(other_tab.get_by_role("heading", name="Endpoints")).to_be_visible()
    other_tab.close()
    page.get_by_role("button", name="Create").press("Enter")
    kept("This form has expired: nothing was saved")
    page.get_by_role("button", name="Create").press("Enter")
    expect(page.locator(".secret textarea")).to_be_visible()
    with harness.engine.connect() as conn:
        (created,) = endpoints.list_endpoints(conn, acme.id)
    assert (created.url, created.description) == (url, description.strip())
    assert created.event_types == [NPN_ACTIVATED]
    context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_the_longest_url_and_description_leave_each_endpoint_page_its_first_screen(
    harness: Harness, browser: Browser
) -> None:
    """An endpoint's URL and description head each of its pages: at the most the API
    takes (2048 and 500 characters), the tabs were some ten screens down at 320 px on
    every tab, a new secret below them, and the window's title the whole URL. They are
    named by their start (and the URL's end); the Overview shows them whole."""
    acme = harness.account()
    url = ("https://hooks.example.com/" + "abcdefghij" * 205)[:2048]
    description = "Ünïcode 日本 🚀 " + "word " * 100
    with write_transaction(harness.engine) as conn:
        endpoint, _ = endpoints.create_endpoint(conn, acme.id, url, description=description[:500])
    context = _context(browser, viewport=NARROW)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    base = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}"

    def on_first_screen(element: Locator) -> None:
        box = element.bounding_box()
        assert box is not None and box["y"] + box["height"] <= NARROW["height"], page.url

    for tab in ("", "/testing", "/advanced", "/attempts"):
        page.goto(base + tab)
        on_first_screen(page.get_by_role("navigation", name="Endpoint"))
        assert len(page.title()) < 200 and url[:40] in page.title() and url[-20:] in page.title()
    page.goto(base)
    expect(page.locator("dd.url")).to_have_text(url)
    expect(page.locator("dd.lines")).to_have_text(description[:500].strip())
    page.get_by_role("button", name="Rotate secret").click()
    on_first_screen(page.locator(".secret textarea"))
    context.close()


_ACTIVE = """() => {
    const e = document.activeElement;
    const label = e.labels && e.labels.length ? e.labels[0].innerText : "";
    return (e.getAttribute("aria-label") || label || e.innerText || "").trim();
}"""


def _go(page: Page, key: str) -> None:
    """Press the key on a link or a form's control, and wait for the page it leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _tab_to(page: Page, name: str, limit: int = 100) -> None:
    """Tab (round the page if need be) until the control whose name starts with ``name``
    has the keyboard."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(_ACTIVE).startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r} on {page.url}")


_SELECTED = """() => {
    const e = document.activeElement;
    return e.value === undefined ? "" : e.value.slice(e.selectionStart, e.selectionEnd);
}"""


# The pages are the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_new_secret_is_copied_by_keyboard_alone(harness: Harness, browser: Browser) -> None:
    """The secret, shown once, was text that a mouse selects: by keyboard alone (no caret
    browsing) it could be copied only with the whole page. Tab reaches it, in a field of
    its own, read-only, and Ctrl+A there selects it alone; so on rotation."""
    acme = harness.account("copy")
    context = _context(browser)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{harness.service.base_url}/portal/endpoints/new")
    page.get_by_label("Endpoint URL").fill("http://127.0.0.1:9/copy")
    page.get_by_role("button", name="Create").click()
    for says, label in [
        ("Endpoint created", "Signing secret"),
        ("Secret rotated", "New signing secret"),
    ]:
        expect(page.get_by_role("status")).to_contain_text(says)
        with harness.engine.connect() as conn:
            (endpoint,) = endpoints.list_endpoints(conn, acme.id)
            secret = endpoints.current_secret(conn, endpoint.id)
        _tab_to(page, label)
        page.keyboard.press("ControlOrMeta+a")
        assert page.evaluate(_SELECTED) == secret
        page.keyboard.type("typed over")  # read-only: the secret stays as it was
        expect(page.get_by_role("textbox", name=label)).to_have_value(secret)
        page.get_by_role("link", name="Go on to the endpoint").click()
        page.get_by_role("button", name="Rotate secret").click()
    context.close()


# The pages are the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_the_portal_is_usable_by_keyboard_alone(harness: Harness, browser: Browser) -> None:
    """Tab, Shift-Tab, Enter and Space through the main flows: every control reached with
    its focus visible, a notice after a redirect and a refused form's summary given the
    keyboard (so a screen reader reads them), and the keyboard kept through htmx's swaps.
    On SQLite only, as the audit above."""
    acme = harness.account("keys")
    context = _context(browser)
    page = context.new_page()
    notice = page.get_by_role("status")
    with receiver() as rx:
        page.goto(harness.link(acme))
        tab_through(page)
        _tab_to(page, "Sign in")
        _go(page, "Enter")
        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()

        # The first Tab is the skip link, shown when it has the keyboard; it skips the
        # header.
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Add Endpoint")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(page.get_by_role("button", name="Sign out")).to_be_focused()
        tab_through(page)

        # Add Endpoint: a refused URL redraws the form with its summary given the
        # keyboard; from its link to the field, fixed; created, the notice has it.
        _tab_to(page, "Add Endpoint")
        _go(page, "Enter")
        tab_through(page)
        _tab_to(page, "Endpoint URL")
        page.keyboard.type("ftp://hooks.example.com/producersync")
        _go(page, "Enter")
        summary = page.get_by_role("alert")
        expect(summary).to_be_focused()
        tab_through(page)
        summary.focus()
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")  # the summary's link to the field
        expect(page.get_by_label("Endpoint URL")).to_be_focused()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type(rx.url)
        _tab_to(page, "Create")
        _go(page, "Enter")
        expect(notice).to_contain_text("Endpoint created")
        expect(notice).to_be_focused()
        expect(page.locator(".secret textarea")).to_be_visible()
        tab_through(page)
        _tab_to(page, "Go on to the endpoint")
        _go(page, "Enter")
        tab_through(page)

        _tab_to(page, "Rotate secret")
        _go(page, "Space")
        expect(notice).to_contain_text("Secret rotated")
        expect(notice).to_be_focused()
        expect(page.locator(".secret textarea")).to_be_visible()
        tab_through(page)
        _tab_to(page, "Go on to the endpoint")
        _go(page, "Enter")

        # Testing: another type by arrow key (htmx swaps the example, the keyboard
        # stays on the list), then Send Example.
        _tab_to(page, "Testing")
        _go(page, "Enter")
        tab_through(page)
        _tab_to(page, "Send event")
        page.keyboard.press("ArrowUp")
        expect(page.locator("#example h2")).to_contain_text(NPN_DEACTIVATED)
        expect(page.get_by_label("Send event")).to_be_focused()
        _tab_to(page, "Send Example")
        _go(page, "Enter")
        expect(notice).to_contain_text("Example sent")
        expect(notice).to_be_focused()

        # Message Attempts: the keyboard stays on a Resend button through the refresh.
        _tab_to(page, "Message Attempts")
        _go(page, "Enter")
        expect(page.locator("tbody tr.succeeded")).to_have_count(2)
        with without_javascript(page):  # nothing swapped while the keyboard goes round
            page.reload()
            tab_through(page)
        page.reload()
        _tab_to(page, "Resend")
        resend = page.locator(f"#{page.evaluate('() => document.activeElement.id')}")
        _next_refresh(page)
        expect(resend).to_be_focused()
        _go(page, "Space")
        expect(notice).to_contain_text("queued for one more attempt")
        expect(notice).to_be_focused()
        with harness.engine.connect() as conn:
            (created,) = endpoints.list_endpoints(conn, acme.id)
        _wait_for_deliveries(harness, created.id)
        _next_refresh(page)
        expect(page.locator("tbody tr.succeeded")).to_have_count(3)

        # A refresh that brings attempts says so, once, in a polite live region.
        _publish(harness, created, NPN_ACTIVATED, 1)
        news = page.locator("#attempts-news")
        expect(news).to_have_attribute("aria-live", "polite")
        expect(news).to_have_text(f"1 new attempt: {NPN_ACTIVATED}, 200, succeeded.")
        _next_refresh(page)
        expect(news).to_have_text("")
        # What moves by itself can be paused, and resumed.
        _tab_to(page, "Pause updates")
        _go(page, "Enter")
        expect(page.get_by_text("Updates paused")).to_be_visible()
        assert page.locator("#attempts").get_attribute("hx-trigger") is None
        _tab_to(page, "Resume updates")
        _go(page, "Enter")
        expect(page.locator("#attempts")).to_have_attribute("hx-trigger", "every 2s")

        # Why an attempt failed, in full: its Details link (kept through the refresh as
        # Resend is) leads to the whole response, markup shown as text, no line cut off.
        rx.reply = lambda _r: Reply(500, body=HOSTILE_BODY.encode())
        _publish(harness, created, NPN_DEACTIVATED, 1)
        _wait_for_deliveries(harness, created.id)
        _next_refresh(page)
        expect(page.locator("tbody tr.failed")).to_have_count(4)  # every scheduled attempt
        _tab_to(page, "Details")
        details = page.locator(f"#{page.evaluate('() => document.activeElement.id')}")
        _next_refresh(page)
        expect(details).to_be_focused()
        _go(page, "Enter")
        body = page.locator("pre.response")
        expect(body).to_have_text(HOSTILE_BODY)
        assert body.evaluate("pre => pre.scrollWidth <= pre.clientWidth")
        tab_through(page)
        _tab_to(page, "Back to Message Attempts")
        _go(page, "Enter")
        expect(page.locator("tbody tr.failed")).to_have_count(4)

        # Advanced: delete, once the box is ticked.
        _tab_to(page, "Advanced")
        _go(page, "Enter")
        tab_through(page)
        _tab_to(page, "Yes, delete this endpoint")
        page.keyboard.press("Space")
        _tab_to(page, "Delete endpoint")
        _go(page, "Enter")
        expect(notice).to_contain_text("Endpoint deleted")
        expect(notice).to_be_focused()

        _tab_to(page, "Event catalog")
        _go(page, "Enter")
        tab_through(page)
        _tab_to(page, "JSON schema")
        page.keyboard.press("Enter")
        expect(page.locator("details[open] pre")).to_be_visible()

        _tab_to(page, "Sign out")
        _go(page, "Enter")
        expect(page.get_by_role("heading")).to_have_text("You are signed out")
        tab_through(page)
    context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_message_to_many_endpoints_pages_both_its_lists(
    harness: Harness, browser: Browser
) -> None:
    """A message's page listed its first 50 deliveries and the newest 50 endpoints that
    missed it, no more. Each list is paged now, its pager named apart from the other's,
    its links opening the page at the list: by keyboard, the next Tab is in it. Audited as
    every page is. On SQLite only, as the audit above."""
    many = harness.account("many")
    with write_transaction(harness.engine) as conn:
        event = UpdatesAvailable.create(dt.date(2026, 1, 1))
        publish_events(conn, many.id, [event])  # to no endpoint: there is none yet
        now = outbox.store_clock(conn)
        made = []
        # Disabled, so that nothing is sent to these hosts: a replay to one waits, parked.
        for n in range(42):
            endpoint, _ = endpoints.create_endpoint(conn, many.id, f"https://h.example.com/{n}")
            endpoints.disable_endpoint(conn, many.id, endpoint.id, "paused")
            made.append(endpoint)
        for endpoint in made[:21]:
            outbox.replay(conn, event.id, endpoint.id, now)
    audit = Audit()
    context = _context(browser)
    audit.watch(context)
    page = context.new_page()
    page.goto(harness.link(many))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
    page.goto(f"{harness.service.base_url}/portal/messages/{event.id}")
    audit.check(page, "message, both of its lists paged")

    # The deliveries' Older, by keyboard (the first Older): the one queued first is there.
    _tab_to(page, "Older")
    _go(page, "Enter")
    assert page.url.endswith("#deliveries-title"), page.url
    pages = page.get_by_role("navigation", name="Pages of deliveries")
    expect(pages.get_by_role("link")).to_have_text(["Newest", "Newer"])
    rows = page.get_by_role("region", name="Deliveries, by endpoint").locator("tbody tr")
    expect(rows).to_have_count(1)
    page.keyboard.press("Tab")
    assert page.evaluate(_ON_REGION), page.evaluate(_ACTIVE)
    audit.check(page, "message, older deliveries")
    tab_through(page)
    _tab_to(page, "Resend")
    assert page.evaluate(_ACTIVE) == f"Resend to {made[0].url}"
    _go(page, "Enter")
    expect(page.get_by_role("status")).to_contain_text("queued for one more attempt")
    assert f"/endpoints/{made[0].id}/attempts" in page.url

    # The endpoints that missed it: the oldest made is on their older page, and is sent it.
    page.go_back()
    missed = page.get_by_role("navigation", name="Pages of endpoints that did not get it")
    missed.get_by_role("link", name="Older").click()
    page.wait_for_url("**#send-title")
    expect(page.get_by_role("radio")).to_have_count(1)
    # The deliveries stay on their older page.
    expect(
        page.get_by_role("navigation", name="Pages of deliveries").get_by_role("link")
    ).to_have_text(["Newest", "Newer"])
    audit.check(page, "message, older endpoints that missed it")
    page.get_by_role("radio", name=made[21].url).check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send", exact=True).click()
    assert f"/endpoints/{made[21].id}/attempts" in page.url
    context.close()
    assert not audit.report(), "axe-core found accessibility violations:\n" + audit.report()


# Each header and cell of a table, scrolled into view as far as scrolling goes: whether
# it is then wholly in the window and on top there (not hidden, not covered).
_CELLS = """table => [...table.querySelectorAll("th, td")].map(cell => {
    cell.scrollIntoView({block: "nearest", inline: "nearest"});
    const box = cell.getBoundingClientRect();
    const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return {
        cell: `${cell.tagName.toLowerCase()} "${cell.innerText.trim().slice(0, 30)}"`,
        shown: box.width > 0 && box.left >= -0.5 && box.right <= innerWidth + 0.5
            && top !== null && top.closest("th, td") === cell,
    };
})"""
_ON_REGION = "() => document.activeElement.getAttribute('role') === 'region'"


_DIRECTION = "element => getComputedStyle(element).direction"


# The pages are the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_right_to_left_text_is_laid_out_in_its_own_direction(
    harness: Harness, browser: Browser
) -> None:
    """A description, a disable reason or an account name in Hebrew or Arabic was laid
    out left to right, as the page around it, so the full stop that ends "ייצור, גרסה 2."
    stood at the right, its start for a reader of Hebrew. Each is laid out in the
    direction of its own text (the description's field too, as it is typed), apart from
    the page's."""
    acme = harness.account("חברה")
    description, reason = "ייצור, גרסה 2.", "مُعطّل للصيانة."
    with write_transaction(harness.engine) as conn:
        endpoint, _ = endpoints.create_endpoint(
            conn, acme.id, "https://hooks.example.com/rtl", description=description
        )
        endpoints.disable_endpoint(conn, acme.id, endpoint.id, reason)
    context = _context(browser)
    page = context.new_page()
    page.goto(harness.link(acme))
    expect(page.get_by_text(acme.name)).to_have_count(1)
    assert page.get_by_text(acme.name).evaluate(_DIRECTION) == "rtl"
    page.get_by_role("button", name="Sign in").click()
    base = f"{harness.service.base_url}/portal/endpoints"
    for path, texts in [
        ("", [description, acme.name]),
        (f"/{endpoint.id}", [description, reason]),
        (f"/{endpoint.id}/advanced", [description, reason]),
        (f"/{endpoint.id}/edit", [description]),
    ]:
        page.goto(base + path)
        for text in texts:
            shown = page.get_by_text(text, exact=True)
            expect(shown.first).to_be_visible()
            assert [e.evaluate(_DIRECTION) for e in shown.all()] == ["rtl"] * shown.count(), (
                path,
                text,
            )
    expect(page.get_by_label("Description")).to_have_value(description)
    assert page.get_by_label("Description").evaluate(_DIRECTION) == "rtl"
    context.close()


# The pages are the same HTML whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_long_unbroken_description_does_not_widen_the_endpoints_table(
    harness: Harness, browser: Browser
) -> None:
    """The URL breaks anywhere in the table; the description only between words, so one
    of 500 characters without a space (a token, a path) made its column as wide, and the
    other columns of every row scrolled out of a desktop window."""
    acme = harness.account("long")
    with write_transaction(harness.engine) as conn:
        endpoints.create_endpoint(conn, acme.id, "http://127.0.0.1:9/a", description="d" * 500)
    context = _context(browser)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    region = page.get_by_role("region", name="Endpoints")
    expect(region.locator("table")).to_have_count(1)
    assert region.evaluate("box => box.scrollWidth <= box.clientWidth"), "the table scrolls"
    context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_tables_keep_every_column_on_a_320_px_screen(harness: Harness, browser: Browser) -> None:
    """On a phone or at 400 % zoom a table keeps all its columns and scrolls sideways in
    a named region that takes the keyboard (a media query had hidden a column under
    700 px). The live table's refresh keeps where the region was scrolled to. That these
    pages are no wider than the window, and pass axe, the audit above sees at 320 px."""
    acme = harness.account("narrow")
    context = _context(browser, viewport=NARROW)
    page = context.new_page()
    base = f"{harness.service.base_url}/portal"

    def rx_reply(got: Received) -> Reply:
        failing = got.event["type"] == NPN_DEACTIVATED
        return Reply(500, body=HOSTILE_BODY.encode()) if failing else Reply()

    def every_cell_reachable(name: str) -> None:
        cells = page.locator("main table").evaluate(_CELLS)
        assert len(cells) >= 8
        assert [c["cell"] for c in cells if not c["shown"]] == [], name
        # ... by scrolling the named region the table is in, which the keyboard reaches.
        region = page.get_by_role("region", name=name)
        expect(region.locator("table")).to_have_count(1)
        expect(region).to_have_attribute("tabindex", "0")
        assert region.evaluate("box => box.scrollWidth > box.clientWidth"), "no need to scroll"

    with receiver(rx_reply) as rx:
        with write_transaction(harness.engine) as conn:
            endpoint, _ = endpoints.create_endpoint(conn, acme.id, rx.url, description="Mirror")
        _publish(harness, endpoint, UPDATES_AVAILABLE, 1)
        _publish(harness, endpoint, NPN_DEACTIVATED, 1)
        _wait_for_deliveries(harness, endpoint.id)
        page.goto(harness.link(acme))
        page.get_by_role("button", name="Sign in").click()

        expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
        every_cell_reachable("Endpoints")
        tab_through(page)

        page.goto(f"{base}/endpoints/{endpoint.id}/attempts")
        expect(page.locator("tbody tr.failed")).to_have_count(4)
        every_cell_reachable("Attempts")
        # Nothing swapped while the keyboard goes round: a refresh mid-way replaced the
        # rows already reached (seen once in a full run).
        with without_javascript(page):
            page.reload()
            tab_through(page)
        page.reload()
        # By keyboard: Tab to the region, arrow keys scroll it; the refresh keeps both.
        for _ in range(40):
            page.keyboard.press("Tab")
            if page.evaluate(_ON_REGION):
                break
        assert page.evaluate(_ON_REGION), "Tab never reached the table's region"
        region = page.get_by_role("region", name="Attempts")
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        # Where the keys' smooth scrolling comes to rest: read at once, it was mid-way.
        scrolled = region.evaluate(_SCROLL_AT_REST)
        assert scrolled > 0, "the arrow keys did not scroll the table"
        _next_refresh(page)
        expect(region).to_be_focused()
        assert region.evaluate("box => box.scrollLeft") == scrolled
    context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_the_attempts_filter_shows_the_times_its_address_names_and_keeps_them(
    harness: Harness, browser: Browser
) -> None:
    """A time the list is filtered by, in the API's grammar but not in the form a
    datetime-local field holds (a date alone, a Z, an offset, a space for the T), was
    shown as an empty field, and pressing Filter again (a type ticked) dropped it."""
    acme = harness.account("times")
    with write_transaction(harness.engine) as conn:
        endpoint, _ = endpoints.create_endpoint(conn, acme.id, "http://127.0.0.1:9/times")
    context = _context(browser)
    page = context.new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    base = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}/attempts"
    since, until = page.locator("#filter-since"), page.locator("#filter-until")
    for typed, shown in [
        (("2026-06-01", "2026-06-02 09:30z"), ("2026-06-01T00:00", "2026-06-02T09:30")),
        (
            ("2026-06-01T09:00+02:00", "2026-06-01T10:00:30Z"),
            ("2026-06-01T07:00", "2026-06-01T10:00:30"),
        ),
    ]:
        page.goto(f"{base}?updates=paused&since={typed[0]}&until={typed[1]}".replace("+", "%2B"))
        expect(since).to_have_value(shown[0])
        expect(until).to_have_value(shown[1])
        page.get_by_role("checkbox", name=NPN_ACTIVATED).check()
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(rf"type={re.escape(NPN_ACTIVATED)}"))
        expect(since).to_have_value(shown[0])
        expect(until).to_have_value(shown[1])
        expect(page.get_by_role("link", name="Clear filters")).to_be_visible()
    context.close()


# forms.js's tests. Every wait is bounded, so that a script that fails fails, not hangs.
# Playwright reads a page only once a navigation started in it has finished, so a form
# sending into its own page, held, would leave nothing to read (and each read waiting):
# each form sends into a new window (target), which leaves its page to be read meanwhile,
# and which a sending not held back would open again. forms.js does the same either way.
HELD_MS = 30_000
# The events of a name, as each ends: whether it was cancelled (a listener on the window
# hears it after the document's, where forms.js listens).
_RECORD = """name => {
    window.heard = window.heard || {};
    window.heard[name] = [];
    window.addEventListener(name, e => window.heard[name].push(e.defaultPrevented));
}"""
_ELSEWHERE = "form => { form.target = '_blank' }"


def _sent_by_form(request: Request) -> bool:
    return request.method == "POST"


def _sent_by_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class _Held:
    """The requests to ``url`` that ``holds`` picks, from any of the page's windows, held
    in the browser as a slow network would hold them until released; counted."""

    def __init__(
        self, page: Page, url: str, holds: Callable[[Request], bool] = _sent_by_form
    ) -> None:
        self.page, self.url, self.holds = page, url, holds
        self.routes: list[Route] = []
        page.context.route(url, self._hold)

    def _hold(self, route: Route) -> None:
        if self.holds(route.request):
            self.routes.append(route)
        else:
            route.continue_()

    def arrived(self, count: int = 1) -> None:
        """Until ``count`` are held (route handlers run as Playwright is waited on)."""
        deadline = time.monotonic() + HELD_MS / 1000
        while len(self.routes) < count:
            assert time.monotonic() < deadline, f"{len(self.routes)} of {count} arrived"
            self.page.wait_for_timeout(50)

    def release(self) -> None:
        """Sends those held on, and holds no more."""
        for route in self.routes:
            route.continue_()
        self.page.context.unroute(self.url, self._hold)


def _heard(page: Page, name: str, count: int = 1) -> list[bool]:
    """Until the page heard ``count`` of the events ``_RECORD`` listens to: whether each
    was cancelled."""
    page.wait_for_function(
        "([name, count]) => window.heard[name].length >= count", arg=[name, count], timeout=HELD_MS
    )
    heard: list[bool] = page.evaluate("name => window.heard[name]", name)
    return heard


def _signed_in(harness: Harness, browser: Browser, name: str) -> tuple[Page, endpoints.Endpoint]:
    acme = harness.account(name)
    with write_transaction(harness.engine) as conn:
        endpoint, _ = endpoints.create_endpoint(conn, acme.id, "http://127.0.0.1:9/busy")
    page = _context(browser).new_page()
    page.goto(harness.link(acme))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()
    return page, endpoint


# The script is the same whatever the store: on SQLite's harness alone.
@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_form_pressed_again_while_on_its_way_is_not_sent_again(
    harness: Harness, browser: Browser
) -> None:
    """Send Example pressed, and pressed again (a click, Enter) while the first sending
    was on its way: the second was sent, and the page showed "sent before" instead of the
    example sent. The form says it is busy, its button greyed but keeping the keyboard,
    and the presses after the first send nothing."""
    page, endpoint = _signed_in(harness, browser, "twice")
    audit = Audit()
    audit.watch(page.context)
    base = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}"
    page.goto(f"{base}/testing")
    page.evaluate(_RECORD, "submit")
    held = _Held(page, f"{base}/testing")
    send = page.get_by_role("button", name="Send Example")
    form = page.locator("form", has=send)
    form.evaluate(_ELSEWHERE)

    send.click(no_wait_after=True, timeout=HELD_MS)
    held.arrived()
    expect(form).to_have_attribute("aria-busy", "true", timeout=HELD_MS)
    expect(send).to_have_attribute("aria-disabled", "true", timeout=HELD_MS)
    assert send.evaluate("button => !button.disabled")  # it keeps the keyboard
    audit.check(page, "testing, Send Example on its way")
    send.click(force=True, no_wait_after=True, timeout=HELD_MS)  # force: aria-disabled
    send.press("Enter", no_wait_after=True, timeout=HELD_MS)
    expect(send).to_be_focused(timeout=HELD_MS)
    assert _heard(page, "submit", 3) == [False, True, True]

    with page.context.expect_page(timeout=HELD_MS) as sent:  # once its answer is there
        held.release()
    status = sent.value.get_by_role("status")
    expect(status).to_contain_text("Example sent", timeout=HELD_MS)
    expect(status).not_to_contain_text("sent before", timeout=HELD_MS)
    assert len(held.routes) == 1 and len(page.context.pages) == 2
    with harness.engine.connect() as conn:
        assert len(outbox.list_deliveries(conn, endpoint_id=endpoint.id)) == 1
    assert not audit.report(), "axe-core found accessibility violations:\n" + audit.report()
    page.context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_the_attempts_refresh_waits_while_a_resend_is_on_its_way(
    harness: Harness, browser: Browser
) -> None:
    """htmx's refresh of the attempts table drew its Resend buttons again, unmarked,
    under a Resend on its way, to be pressed again: while a form is busy, no refresh is
    sent, and one already on its way is not swapped in."""
    page, endpoint = _signed_in(harness, browser, "refresh")
    _publish(harness, endpoint, NPN_ACTIVATED, 1)
    _wait_for_deliveries(harness, endpoint.id)
    attempts = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}/attempts"
    page.goto(attempts)
    # A refresh held on its way, and then a Resend pressed.
    refreshes = _Held(page, f"{attempts}*", _sent_by_htmx)
    page.clock.fast_forward(REFRESH_MS)
    refreshes.arrived()
    resends = _Held(page, "**/resend")
    resend = page.get_by_role("button", name=re.compile("^Resend")).first
    resend.evaluate("button => { button.dataset.old = 'yes'; button.form.target = '_blank' }")
    page.evaluate(_RECORD, "htmx:beforeSwap")
    page.evaluate(_RECORD, "htmx:beforeRequest")
    resend.click(no_wait_after=True, timeout=HELD_MS)
    resends.arrived()
    expect(resend).to_have_attribute("aria-disabled", "true", timeout=HELD_MS)

    refreshes.release()
    assert _heard(page, "htmx:beforeSwap") == [True]  # not swapped in
    page.clock.fast_forward(REFRESH_MS)
    assert _heard(page, "htmx:beforeRequest") == [True]  # the next one not sent
    assert len(refreshes.routes) == 1
    assert resend.get_attribute("data-old", timeout=HELD_MS) == "yes"  # the same button
    expect(resend).to_have_attribute("aria-disabled", "true", timeout=HELD_MS)

    with page.context.expect_page(timeout=HELD_MS) as sent:
        resends.release()
    status = sent.value.get_by_role("status")
    expect(status).to_contain_text("queued for one more attempt", timeout=HELD_MS)
    expect(status).not_to_contain_text("sent before", timeout=HELD_MS)
    assert len(resends.routes) == 1
    page.context.close()


@pytest.mark.parametrize("harness", ["sqlite"], indirect=True)
def test_a_busy_form_back_from_the_back_forward_cache_can_be_sent(
    harness: Harness, browser: Browser
) -> None:
    """A page left while its form was on its way, and come back to from the back-forward
    cache, is as it was left: busy, with nothing on its way any more. The page's return
    (pageshow, persisted) makes its forms sendable again; a first showing does not."""
    page, endpoint = _signed_in(harness, browser, "bfcache")
    base = f"{harness.service.base_url}/portal/endpoints/{endpoint.id}"
    page.goto(f"{base}/testing")
    held = _Held(page, f"{base}/testing")
    send = page.get_by_role("button", name="Send Example")
    form = page.locator("form", has=send)
    form.evaluate(_ELSEWHERE)
    send.click(no_wait_after=True, timeout=HELD_MS)
    held.arrived()
    shown = "persisted => dispatchEvent(new PageTransitionEvent('pageshow', {persisted}))"
    page.evaluate(shown, False)
    expect(form).to_have_attribute("aria-busy", "true", timeout=HELD_MS)
    page.evaluate(shown, True)
    expect(form).not_to_have_attribute("aria-busy", "true", timeout=HELD_MS)
    expect(send).not_to_have_attribute("aria-disabled", "true", timeout=HELD_MS)
    send.click(no_wait_after=True, timeout=HELD_MS)
    held.arrived(2)
    held.release()
    page.context.close()
