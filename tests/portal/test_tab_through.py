"""The keyboard walk the browser tests make of every page (``tab_through``), on pages of
its own: what it must see however the browser moves the focus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.accessibility import tab_through
from tests.support.browser import chromium

pytestmark = pytest.mark.slow(10)

# Past its last control the keyboard leaves the page for the browser, which hands it back
# to the first control: on the next Tab, or (one wrap in five, here) at once, on its own,
# a moment later. Under load that moment came after the walk had looked, and found the
# focus nowhere; its next Tab went on from the first control, never seen (the skip link
# of the keyboard test's refused form, once). The page's script stands in for that
# moment: the first control gets the keyboard just before the Tab after the wrap.
_LATE_RETURN = """<!doctype html>
<html lang="en"><head><title>walk</title><style>:focus { outline: 3px solid; }</style></head>
<body><a id="skip" href="#main">Skip to content</a> <a id="home" href="#home">Home</a>
<main id="main"><button id="last">Last</button></main>
<script>
document.addEventListener("keydown", event => {
    if (event.key === "Tab" && document.activeElement === document.body) {
        document.getElementById("skip").focus();
    }
}, true);
</script></body></html>"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def test_a_control_given_the_keyboard_between_two_tabs_is_reached(browser: Browser) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.set_content(_LATE_RETURN)
    # Several walks: the browser hands the keyboard back at once on some wraps, where
    # there is nothing between two Tabs to miss.
    for _ in range(3):
        page.focus("#home")
        reached = tab_through(page)
        assert reached == ['button "Last"', 'a "Skip to content"', 'a "Home"'], reached
    context.close()


_RADIOS = """<!doctype html>
<html lang="en"><head><title>walk</title><style>:focus { outline: 3px solid; }</style></head>
<body><main><form><fieldset><legend>Endpoint</legend>
<label><input type="radio" name="endpoint" value="a"> A</label>
<label><input type="radio" name="endpoint" value="b"> B</label>
<label><input type="radio" name="endpoint" value="c"> C</label>
</fieldset><button>Send</button></form></main></body></html>"""


def test_a_group_of_radio_buttons_is_reached_as_one_stop(browser: Browser) -> None:
    """Tab stops once in a group of radio buttons (its arrow keys choose): the walk took
    the others for controls the keyboard never reached (a message's page, listing the
    endpoints that missed it)."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(_RADIOS)
    reached = tab_through(page)
    assert reached == ['input "a"', 'button "Send"'], reached
    context.close()
