"""axe-core (bundled by axe-playwright-python) run on a page in the browser, its
violations in words a failing test can show; beside it, three checks of our own that axe
does not make: that the page reflows (WCAG 1.4.10), that nothing is said only in a
hover title, and that a closed list shows its choice whole.

axe is added to each page by the browser context (an init script), which the page's
content security policy does not govern, so it runs on the portal's real pages, headers
and all. It needs JavaScript in the page's context: a page "without JavaScript" is
audited with the page's own script kept from loading instead (``without_javascript``),
which leaves the DOM as the server sent it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from axe_playwright_python.base import AXE_SCRIPT  # axe-core, as the package bundles it
from playwright.sync_api import BrowserContext, Page, Route, ViewportSize

__all__ = ["NARROW", "RULES", "Audit", "tab_through", "without_javascript"]

# A phone, and a 1280 px window zoomed to 400 % (WCAG 1.4.10, reflow).
NARROW: ViewportSize = {"width": 320, "height": 640}

# WCAG 2.0 and 2.1, levels A and AA, and axe's best practices (landmarks, heading order,
# one main, regions), which are how a screen reader user finds their way on a page.
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]

_OPTIONS = {
    "runOnly": {"type": "tag", "values": RULES},
    "resultTypes": ["violations", "incomplete"],  # every node of these; of passes, one
}
_RUN = """options => axe.run(document, options)
    .then(found => ({violations: found.violations, incomplete: found.incomplete}))"""

# What is wider than the box it is in, outside a region that scrolls sideways (a named
# role=region that takes the keyboard): there it would stick out of its card, cut off or
# over the border, or widen the page itself past the window's edge. Each box's content
# is measured, its text included (scrollWidth); the innermost such box is named, which is
# where to look. Not measured: form fields, which scroll what is typed into them, and the
# visually hidden, which are 1 px wide on purpose.
_OVERFLOWING = """() => {
    const name = e => e.tagName.toLowerCase() + (e.id ? `#${e.id}` : "")
        + [...e.classList].map(c => `.${c}`).join("");
    const wider = [...document.querySelectorAll("html, body, body *")]
        .filter(e => !e.closest("[role=region], input, select, textarea, .visually-hidden"))
        .filter(e => e.scrollWidth > e.clientWidth + 1);
    return wider.filter(e => !wider.some(inner => inner !== e && e.contains(inner)))
        .map(e => ({
            target: [name(e)],
            html: `${e.scrollWidth} px in ${e.clientWidth}: ${e.outerHTML}`,
        }));
}"""
# A title shows on a mouse's hover alone: not to touch, nor to the keyboard, and screen
# readers may skip it. What it says belongs in the text (visible, or visually hidden).
_TITLED = """() => [...document.body.querySelectorAll("[title]")]
    .map(e => ({target: [e.tagName.toLowerCase()], html: e.outerHTML}))"""
# A closed list shows its chosen option in the list's own box, cut off at its end where it
# is narrower (a phone's form): each shown list's chosen text, measured in its font, with
# its padding and the 16 px Chromium's arrow takes (at 12 px the last letter went).
_CUT_CHOICE = """() => [...document.querySelectorAll("select")]
    .filter(s => s.getClientRects().length && s.selectedIndex >= 0)
    .map(s => {
        const style = getComputedStyle(s);
        const pen = document.createElement("canvas").getContext("2d");
        pen.font = style.font;
        const text = pen.measureText(s.options[s.selectedIndex].text).width;
        const room = s.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight) - 16;
        return {s, text, room};
    })
    .filter(({text, room}) => text > room)
    .map(({s, text, room}) => ({
        target: [`select#${s.id}`],
        html: `${Math.ceil(text)} px of text in ${Math.floor(room)}: ${s.outerHTML}`,
    }))"""
# Ours, reported as axe reports a violation: each script lists what fails the check.
_CHECKS = (
    (
        "reflow",
        "Nothing is wider than the box it is in, but in a region that scrolls",
        _OVERFLOWING,
    ),
    ("hover-only", "Nothing is said only in a title, which a mouse's hover alone shows", _TITLED),
    ("cut-choice", "A closed list shows its chosen option whole", _CUT_CHOICE),
)
# All of them in one call: a call each was a round trip each, three a width a page.
_OURS = "() => [" + ", ".join(f"({script})()" for _, _, script in _CHECKS) + "]"


def _describe(violation: dict[str, Any]) -> list[str]:
    lines = [f"  {violation['id']} ({violation['impact']}): {violation['help']}"]
    for node in violation["nodes"]:
        html = " ".join(node["html"].split())  # a <pre>'s lines on one
        lines.append(f"    at {' '.join(map(str, node['target']))}: {html[:160]}")
        for check in node.get("any", []) + node.get("all", []) + node.get("none", []):
            lines.append(f"      - {check['message']}")
    return lines


@dataclass
class Audit:
    """Every page audited, and what axe found on each: one failure lists them all.

    Each page is audited at its own width and again at 320 px (``NARROW``), where a
    phone or a window zoomed to 400 % shows it, by axe and by our checks (``_CHECKS``).
    The window is made narrow and wide again around the one page, rather than the pages
    visited twice, so every state is seen at both widths for the cost of a second look.

    What axe cannot decide ("incomplete": needs review) counts as found too. It is what
    axe sees but cannot settle from the DOM alone, such as an ``aria-label`` on a span that
    screen readers are free to skip; each page here is made so that nothing is left to
    review, and a new such finding is to be resolved, not waved through."""

    found: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        """Have axe in every page the context opens, from its start (once a page, rather
        than injected again for each check)."""
        context.add_init_script(AXE_SCRIPT)

    def check(self, page: Page, name: str) -> None:
        self.pages.append(name)
        size = page.viewport_size
        assert size is not None, "the audit needs the context's viewport to resize it"
        self._look(page, f"{name} ({size['width']} px)")
        page.set_viewport_size(NARROW)
        try:
            self._look(page, f"{name} ({NARROW['width']} px)")
        finally:
            page.set_viewport_size(size)

    def _look(self, page: Page, name: str) -> None:
        results = page.evaluate(_RUN, _OPTIONS)
        ours = [
            {"id": check, "impact": "serious", "help": says, "nodes": nodes}
            for (check, says, _), nodes in zip(_CHECKS, page.evaluate(_OURS), strict=True)
            if nodes
        ]
        self.found[name] = [
            *results["violations"],
            *({**v, "id": f"{v['id']}, needs review"} for v in results["incomplete"]),
            *ours,
        ]

    def report(self) -> str:
        lines = []
        for name, violations in self.found.items():
            if violations:
                lines.append(f"{name}:")
                lines.extend(line for v in violations for line in _describe(v))
        return "\n".join(lines)


@contextmanager
def without_javascript(page: Page) -> Iterator[None]:
    """Within: the pages the page loads come without their own scripts (htmx), so their
    DOM stays as the server sent it, as in a browser with JavaScript off; axe and the
    test's own calls still run. (Another page for this would leave this one in the
    background, where Chromium slows its animation frames and each click waits a second.)"""
    page.route(_SCRIPTS, _refuse)
    try:
        yield
    finally:
        page.unroute(_SCRIPTS, _refuse)


_SCRIPTS = "**/static/*.js"


def _refuse(route: Route) -> None:
    route.abort()


# Where the keyboard goes, as the page sees it: each element that takes focus, in order,
# its name as a person would read it, and whether its focus indicator is there to see (an
# outline of 2 px or more, every control here has one, that no box around it cuts off).
# Recorded as focus moves, not read after each Tab: past the last control the keyboard
# goes to the browser, which may hand it back to the page's first control a moment later,
# on its own. Read after that Tab, the focus was nowhere yet; the next Tab went on from
# the first control, which was never seen (the skip link, once, under load).
_WATCH = """() => {
    document.querySelectorAll("[data-tabbed]").forEach(e => delete e.dataset.tabbed);
    const steps = [];
    let order = 0;
    const seen = event => {
        const e = event.target;
        if (e.dataset.tabbed) return steps.push({again: e.dataset.tabbed});
        e.dataset.tabbed = String(order++);
        const style = getComputedStyle(e);
        const name = e.getAttribute("aria-label") || e.innerText || e.value || e.name || e.id;
        // The ring is cut off where a box around it clips what overflows it.
        const ring = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth);
        const box = e.getBoundingClientRect();
        let clipped = false;
        for (let up = e.parentElement; up && up !== document.body; up = up.parentElement) {
            const around = getComputedStyle(up);
            if (around.overflowX === "visible" && around.overflowY === "visible") continue;
            const edge = up.getBoundingClientRect();
            clipped ||= box.left - ring < edge.left || box.right + ring > edge.right
                || box.top - ring < edge.top || box.bottom + ring > edge.bottom;
        }
        steps.push({
            name: `${e.tagName.toLowerCase()} "${(name || "").trim().slice(0, 50)}"`,
            visible: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2
                && !clipped,
        });
    };
    document.addEventListener("focusin", seen, true);
    window.tabWalk = {steps, stop: () => document.removeEventListener("focusin", seen, true)};
}"""
# What focus reached since the last look; and the end of the watch.
_STEPS = "() => window.tabWalk ? window.tabWalk.steps.splice(0) : null"
_UNWATCHED = "() => { window.tabWalk?.stop(); delete window.tabWalk; }"
# A group of radio buttons is one stop for Tab, its arrow keys choose among them: reached,
# if one of the group was.
_NOT_TABBED = """() => [...document.querySelectorAll(
    "a[href], button, input:not([type=hidden]), select, textarea, summary")]
    .filter(e => !e.dataset.tabbed && e.getClientRects().length)
    .filter(e => e.type !== "radio" || ![...(e.form || document).querySelectorAll(
        "input[type=radio][data-tabbed]")].some(other => other.name === e.name))
    .map(e => `${e.tagName.toLowerCase()} "${(e.innerText || e.name || "").slice(0, 50)}"`)"""


def tab_through(page: Page, limit: int = 120) -> list[str]:
    """Tab round the whole page, from wherever the keyboard is, until it comes back to a
    control it was on: what it reached, in order. Fails if a control showed no focus
    indicator, or was never reached."""
    page.evaluate(_WATCH)
    reached: list[str] = []
    unseen: list[str] = []
    try:
        for _ in range(limit):
            page.keyboard.press("Tab")
            # Nothing past the last control (focus left for the browser), or on a part
            # of a date field; the next Tab starts again at the top, or goes on in it.
            steps = page.evaluate(_STEPS)
            assert steps is not None, f"{page.url}: a Tab led to another page"
            round_the_page = [i for i, step in enumerate(steps) if step.get("again") == "0"]
            for step in steps[: round_the_page[0]] if round_the_page else steps:
                if "name" in step:
                    reached.append(step["name"])
                    if not step["visible"]:
                        unseen.append(step["name"])
            if round_the_page:
                break
        missed = page.evaluate(_NOT_TABBED)
    finally:
        page.evaluate(_UNWATCHED)
    assert not unseen, f"{page.url}: focus not visible on {unseen}"
    assert not missed, f"{page.url}: not reached by Tab: {missed}"
    return reached
