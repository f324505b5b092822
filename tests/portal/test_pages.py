"""The portal over HTTP, without a browser: sign-in and sessions, CSRF on every form, one
account never reaching another's endpoints, and bad form input shown on the form."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import markupsafe
import orjson
import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from producersync.cli.main import app as cli_app
from producersync.model import events as events_model
from producersync.model.events import (
    ENDPOINT_TEST,
    NPN_ACTIVATED,
    NPN_DEACTIVATED,
    UPDATES_AVAILABLE,
    NpnActivated,
    UpdatesAvailable,
)
from producersync.service.delivery import management
from producersync.service.delivery.publish import publish_events
from producersync.service.portal import attempts as attempts_page
from producersync.service.portal import endpoints as endpoints_page
from producersync.service.portal.app import create_portal
from producersync.service.portal.csrf import csrf_token
from producersync.service.store import endpoints, outbox
from producersync.service.store.endpoints import Endpoint
from producersync.service.store.engine import write_transaction
from producersync.service.store.tables import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from tests.portal.conftest import HOSTILE_BODY, SignedIn, csrf_of, issue_link, sign_in
from tests.support import plain_http
from tests.support.delivery import endpoints_made_in_one_millisecond, log_attempts, skew_clock
from tests.support.service import RunningService, running_service

URL = "http://127.0.0.1:9/hook"


def _error(page: httpx2.Response) -> str:
    """The message shown beside the refused field."""
    found = re.search(r'class="field-error"[^>]*>([^<]*)<', page.text)
    assert found, page.text
    return found.group(1).replace("&#39;", "'")


# A signing secret as generate_secret makes it (the base64 of 32 bytes), and a hidden
# field's value as the portal's forms carry it.
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{40,}={0,2}")
_HIDDEN = 'name="{}" value="([^"]+)"'


def _hidden(page: httpx2.Response, name: str) -> str:
    found = re.search(_HIDDEN.format(name), page.text)
    assert found, f"the page has no hidden field {name!r}"
    return found.group(1)


def _created(answer: httpx2.Response) -> str:
    """The id of the endpoint Create's answer names (it leads on to its Overview)."""
    assert answer.status_code == 200, answer.text
    found = re.search(
        r'class="button primary" href="/portal/endpoints/(ep_[0-9a-f]+)"', answer.text
    )
    assert found, answer.text
    return found.group(1)


def _create(visitor: SignedIn, url: str = URL) -> str:
    """An endpoint made with Add Endpoint; its id."""
    return _created(visitor.form("/portal/endpoints", url=url, events=["producersync"]))


def _api_secret(service: RunningService, visitor: SignedIn, endpoint_id: str) -> str:
    """The current secret as the API gives it, the one the service signs with."""
    with service.client(visitor.creds) as api:
        answer = api.get(f"/v1/webhooks/endpoints/{endpoint_id}/secret")
    assert answer.status_code == 200, answer.text
    secret: str = answer.json()["secret"]
    return secret


def _no_page_shows_a_secret(visitor: SignedIn, endpoint_id: str) -> None:
    """No page a GET reaches, of the endpoint or around it, has a secret on it."""
    paths = ["", "/new", f"/{endpoint_id}"]
    paths += [f"/{endpoint_id}/{tab}" for tab in ("testing", "advanced", "attempts", "edit")]
    for path in paths:
        page = visitor.http.get(f"/portal/endpoints{path}")
        assert page.status_code == 200, (path, page.text)
        assert not _SECRET.search(page.text), path


def _state(service: RunningService, account_id: int) -> Any:
    """Everything a portal form can change for the account."""
    with service.engine.connect() as conn:
        eps = endpoints.list_endpoints(conn, account_id)
        messages = outbox.list_messages(conn, account_id, limit=1000)
        return (
            eps,
            {e.id: endpoints.current_secret(conn, e.id) for e in eps},
            outbox.deliveries_of(conn, [m.id for m in messages]),
            [m.id for m in messages],
        )


def _message(service: RunningService, account_id: int) -> str:
    with service.engine.connect() as conn:
        return outbox.list_messages(conn, account_id, limit=1)[0].id


# --- sign-in and sessions ---------------------------------------------------------------


def test_a_link_signs_in_once_then_says_it_was_used(portal_service: RunningService) -> None:
    creds = portal_service.account()
    token = issue_link(portal_service, creds.account_id)
    with plain_http.client(base_url=portal_service.base_url) as http:
        page = http.get(f"/portal/login/{token}")
        assert page.status_code == 200 and creds.account in page.text
        signed = http.post(f"/portal/login/{token}", data={"csrf": csrf_of(page.text)})
        assert (signed.status_code, signed.headers["location"]) == (303, "/portal/endpoints")
        cookie = next(
            c for c in signed.headers.get_list("set-cookie") if "producersync_portal=" in c
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/portal" in cookie
        assert "Secure" not in cookie  # plain http
        assert http.get("/portal/endpoints").status_code == 200

    with plain_http.client(base_url=portal_service.base_url) as other:
        again = other.get(f"/portal/login/{token}")
        assert again.status_code == 410 and "has been used" in again.text
        assert other.post(f"/portal/login/{token}", data={"csrf": "x"}).status_code == 403


def test_a_spent_link_takes_a_browser_signed_in_to_its_account_to_the_portal(
    portal_service: RunningService,
) -> None:
    """Sign in pressed twice, or the mail's link opened again while the session lasts: the
    browser is signed in, and was shown "This login link has been used"."""
    creds = portal_service.account()
    token = issue_link(portal_service, creds.account_id)
    expired = issue_link(portal_service, creds.account_id, dt.timedelta(seconds=-1))
    with plain_http.client(base_url=portal_service.base_url) as http:
        page = http.get(f"/portal/login/{token}")
        pressed = {"csrf": csrf_of(page.text)}
        assert http.post(f"/portal/login/{token}", data=pressed).status_code == 303
        session = http.cookies["producersync_portal"]
        # The second press: its nonce cookie was cleared by the first answer.
        again = http.post(f"/portal/login/{token}", data=pressed)
        assert (again.status_code, again.headers["location"]) == (303, "/portal/endpoints")
        for link in (token, expired):
            opened = http.get(f"/portal/login/{link}")
            assert (opened.status_code, opened.headers["location"]) == (303, "/portal/endpoints")
        assert http.cookies["producersync_portal"] == session  # no new session either

    other = sign_in(portal_service, portal_service.account())  # another account's session
    try:
        assert other.http.get(f"/portal/login/{token}").status_code == 410
        assert other.http.post(f"/portal/login/{token}", data=pressed).status_code == 403
    finally:
        other.http.close()


def test_a_spent_link_clears_the_login_nonce_of_a_browser_it_takes_to_the_portal(
    portal_service: RunningService,
) -> None:
    """The redirect left the nonce of a sign-in form opened before (another link's page)
    in the browser, though the form it belonged to was done with."""
    creds = portal_service.account()
    spent = issue_link(portal_service, creds.account_id)
    unused = issue_link(portal_service, creds.account_id)
    nonce = "producersync_portal_login"
    with plain_http.client(base_url=portal_service.base_url) as http:
        page = http.get(f"/portal/login/{spent}")
        pressed = {"csrf": csrf_of(page.text)}
        assert http.post(f"/portal/login/{spent}", data=pressed).status_code == 303
        for method in ("GET", "POST"):
            assert http.get(f"/portal/login/{unused}").status_code == 200
            assert nonce in http.cookies
            opened = http.request(method, f"/portal/login/{spent}", data=pressed)
            assert (opened.status_code, opened.headers["location"]) == (303, "/portal/endpoints")
            assert nonce not in http.cookies, method
            assert "producersync_portal" in http.cookies  # still signed in


def test_signing_in_again_ends_the_session_it_replaces(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    old = visitor.http.cookies["producersync_portal"]
    token = issue_link(portal_service, visitor.creds.account_id)
    page = visitor.http.get(f"/portal/login/{token}")
    signed = visitor.http.post(f"/portal/login/{token}", data={"csrf": csrf_of(page.text)})
    assert signed.status_code == 303
    assert visitor.http.get("/portal/endpoints").status_code == 200  # the new session
    copied = {"producersync_portal": old}
    with plain_http.client(base_url=portal_service.base_url, cookies=copied) as copy:
        assert copy.get("/portal/endpoints").status_code == 401


# uvicorn trusts X-Forwarded-Proto from loopback: what a TLS proxy in front sends.
_HTTPS = {"x-forwarded-proto": "https"}


def _set_cookies(answer: httpx2.Response) -> dict[str, list[str]]:
    """Each cookie the answer sets, by name: its value, then its attributes."""
    cookies = (c.split("; ") for c in answer.headers.get_list("set-cookie"))
    return {c[0].split("=", 1)[0]: [c[0].split("=", 1)[1], *c[1:]] for c in cookies}


def _host_only(cookie: list[str]) -> bool:
    """Whether a browser takes the cookie under its ``__Host-`` name: Secure, for the whole
    host, and no Domain."""
    return (
        "Secure" in cookie
        and "Path=/" in cookie
        and not any(a.lower().startswith("domain=") for a in cookie)
    )


def _sent(cookies: dict[str, str]) -> dict[str, str]:
    """Cookies sent by hand: a client keeps a Secure cookie for https only."""
    return {**_HTTPS, "cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def test_over_https_the_cookies_are_host_only(portal_service: RunningService) -> None:
    """The whole way over https: the sign-in page's nonce, the session it starts, the pages
    that session opens, and signing out, all under ``__Host-`` names."""
    token = issue_link(portal_service, portal_service.account().account_id)
    with plain_http.client(base_url=portal_service.base_url, headers=_HTTPS) as http:
        page = http.get(f"/portal/login/{token}")
        nonce = _set_cookies(page)["__Host-producersync_portal_login"]
        assert _host_only(nonce) and "HttpOnly" in nonce
        signed = http.post(
            f"/portal/login/{token}",
            data={"csrf": csrf_of(page.text)},
            headers=_sent({"__Host-producersync_portal_login": nonce[0]}),
        )
        assert signed.status_code == 303, signed.text
        cookies = _set_cookies(signed)
        assert cookies.keys() == {"__Host-producersync_portal", "__Host-producersync_portal_login"}
        assert all(_host_only(c) for c in cookies.values())
        session = {"__Host-producersync_portal": cookies["__Host-producersync_portal"][0]}
        endpoints = http.get("/portal/endpoints", headers=_sent(session))
        assert endpoints.status_code == 200, endpoints.text
        out = http.post(
            "/portal/logout", data={"csrf": csrf_of(endpoints.text)}, headers=_sent(session)
        )
        assert out.status_code == 303, out.text
        cleared = _set_cookies(out)["__Host-producersync_portal"]
        assert _host_only(cleared) and cleared[0] == '""'
        assert http.get("/portal/endpoints", headers=_sent(session)).status_code == 401


def test_over_https_a_cookie_a_sibling_subdomain_plants_signs_no_one_in(
    portal_service: RunningService,
) -> None:
    """A page of evil.example.com can set a cookie for ``Domain=example.com`` and the
    portal's path, which ps.example.com's browser sends it as its own. It planted a login
    nonce of its choosing, whose CSRF token it knows, and posted its own account's link
    with that token from its page: the victim was signed in to the attacker's account (and
    a webhook URL or secret they then set up was the attacker's). Or it planted the session
    cookie of its own account. A ``__Host-`` cookie no other host can set."""
    attacker = portal_service.account()
    token = issue_link(portal_service, attacker.account_id)
    with plain_http.client(base_url=portal_service.base_url) as http:
        nonce = "planted-by-evil.example.com"
        pressed = http.post(
            f"/portal/login/{token}",
            data={"csrf": csrf_token(nonce)},
            headers={**_sent({"producersync_portal_login": nonce}), "sec-fetch-site": "same-site"},
        )
        assert pressed.status_code == 403 and "set-cookie" not in pressed.headers
        assert http.get(f"/portal/login/{token}").status_code == 200  # the link not used

        own = sign_in(portal_service, attacker)  # over http: an unprefixed session cookie
        planted = {"producersync_portal": own.http.cookies["producersync_portal"]}
        own.http.close()
        page = http.get("/portal/endpoints", headers=_sent(planted))
        assert page.status_code == 401 and attacker.account not in page.text


def test_the_cookies_are_secure_when_the_public_url_is_https(tmp_path: Path) -> None:
    """Behind a TLS proxy uvicorn does not trust (not on loopback), the request says http:
    the public URL is what says the browser is on https."""
    public = {"public_url": "https://ps.example.com"}
    with (
        running_service(f"sqlite:///{tmp_path / 'store.db'}", **public) as service,
        plain_http.client(base_url=service.base_url) as http,
    ):
        token = issue_link(service, service.account().account_id)
        page = http.get(f"/portal/login/{token}")
        nonce = _set_cookies(page)["__Host-producersync_portal_login"][0]
        signed = http.post(
            f"/portal/login/{token}",
            data={"csrf": csrf_of(page.text)},
            headers={"cookie": f"__Host-producersync_portal_login={nonce}"},
        )
    assert signed.status_code == 303, signed.text
    set_cookies = [page.headers["set-cookie"], *signed.headers.get_list("set-cookie")]
    assert len(set_cookies) == 3 and all("Secure" in c for c in set_cookies)


@pytest.mark.parametrize(
    ("ttl", "status", "says"),
    [(dt.timedelta(seconds=-1), 410, "has expired"), (None, 404, "is not valid")],
)
def test_expired_and_unknown_links_say_so(
    portal_service: RunningService, ttl: dt.timedelta | None, status: int, says: str
) -> None:
    creds = portal_service.account()
    token = issue_link(portal_service, creds.account_id, ttl) if ttl else "psl_nosuchlink"
    page = plain_http.get(f"{portal_service.base_url}/portal/login/{token}")
    assert page.status_code == status and says in page.text
    assert "set-cookie" not in page.headers


def test_sign_in_needs_the_token_of_the_login_page(portal_service: RunningService) -> None:
    """Another site cannot post a link of its choosing to sign a browser in."""
    token = issue_link(portal_service, portal_service.account().account_id)
    with plain_http.client(base_url=portal_service.base_url) as http:
        forged = http.post(f"/portal/login/{token}", data={"csrf": "forged"})
        assert forged.status_code == 403
        page = http.get(f"/portal/login/{token}")  # the link was not used up
        assert page.status_code == 200


def test_a_sign_in_page_left_open_past_its_nonce_leads_back_to_the_link(
    portal_service: RunningService,
) -> None:
    """Sign in pressed after the page's nonce cookie ran out (15 minutes) was a 403 page
    whose way out, Endpoints, said "You are not signed in ... if yours is used, ask for
    a new one", of a link not used. From the portal's own page, it leads back to the
    link's page, which says to press again; it signs in from there."""
    creds = portal_service.account()
    token = issue_link(portal_service, creds.account_id)
    with plain_http.client(base_url=portal_service.base_url) as http:
        login = f"/portal/login/{token}"
        stale = csrf_of(http.get(login).text)
        http.cookies.clear()  # the nonce's 15 minutes are up
        pressed = http.post(login, data={"csrf": stale}, headers=_FROM_THE_PORTAL)
        assert pressed.status_code == 303, pressed.text
        assert pressed.headers["location"] == f"{login}?notice=sign_in_again"
        assert "producersync_portal" not in http.cookies  # not signed in by it
        page = http.get(pressed.headers["location"])
        assert page.status_code == 200 and "The link is not used yet" in page.text
        signed = http.post(login, data={"csrf": csrf_of(page.text)})
        assert (signed.status_code, signed.headers["location"]) == (303, "/portal/endpoints")


def test_pages_need_a_live_session(portal_service: RunningService) -> None:
    base = portal_service.base_url
    assert plain_http.get(f"{base}/portal/endpoints").status_code == 401
    stale = plain_http.get(f"{base}/portal/endpoints", cookies={"producersync_portal": "stale"})
    assert stale.status_code == 401 and "not signed in" in stale.text


def _sign_in_with(http: httpx2.Client, service: RunningService, account_id: int) -> str:
    """Where pressing Sign in on a new link leads this browser."""
    token = issue_link(service, account_id)
    page = http.get(f"/portal/login/{token}")
    signed = http.post(f"/portal/login/{token}", data={"csrf": csrf_of(page.text)})
    assert signed.status_code == 303, signed.text
    return signed.headers["location"]


def test_signing_in_leads_to_the_page_asked_for_signed_out(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A kept or shared address opened once the session had run out was answered
    "not signed in", and the next sign-in led to Endpoints: the page was to be found again."""
    endpoint_id = _create(visitor)
    asked = f"/portal/endpoints/{endpoint_id}/attempts?outcome=failed&type=webhook.test"
    assert visitor.form("/portal/logout").status_code == 303

    refused = visitor.http.get(asked)
    assert refused.status_code == 401 and "not signed in" in refused.text
    # A form sent, or htmx refreshing a table, is no page to come back to.
    visitor.http.get("/portal/endpoints", headers={"hx-request": "true"})
    visitor.form(f"/portal/endpoints/{endpoint_id}/enable")

    assert _sign_in_with(visitor.http, portal_service, visitor.creds.account_id) == asked
    assert visitor.http.get(asked).status_code == 200
    # Once: the sign-in after leads to Endpoints.
    assert _sign_in_with(visitor.http, portal_service, visitor.creds.account_id) == (
        "/portal/endpoints"
    )


@pytest.mark.parametrize(
    "planted",
    ["https://evil.example/", "//evil.example/portal", "/\\evil.example", "/elsewhere", ""],
)
def test_a_way_back_not_into_the_portal_leads_to_endpoints(
    portal_service: RunningService, planted: str
) -> None:
    """The cookie may be planted (by a sibling subdomain, over plain http): it leads into
    the portal or nowhere, never to another host."""
    creds = portal_service.account()
    with plain_http.client(base_url=portal_service.base_url, timeout=30) as http:
        http.cookies.set("producersync_portal_return", planted, path="/portal/login")
        assert _sign_in_with(http, portal_service, creds.account_id) == "/portal/endpoints"


def test_sign_out_ends_the_session(portal_service: RunningService) -> None:
    visitor = sign_in(portal_service, portal_service.account())
    cookie = visitor.http.cookies["producersync_portal"]
    out = visitor.form("/portal/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/portal/signed-out")
    reused = plain_http.get(
        f"{portal_service.base_url}/portal/endpoints", cookies={"producersync_portal": cookie}
    )
    assert reused.status_code == 401


def test_the_cli_prints_a_link_that_signs_in(portal_service: RunningService) -> None:
    creds = portal_service.account()
    database = ["--database", portal_service.settings.database_url]
    base = ["admin", "portal-link", "--account", creds.account, "--public-url"]
    printed = CliRunner().invoke(cli_app, [*base, portal_service.base_url, *database])
    assert printed.exit_code == 0, printed.output
    url = printed.output.strip()
    assert url.startswith(f"{portal_service.base_url}/portal/login/psl_")
    assert plain_http.get(url).status_code == 200

    as_json = CliRunner().invoke(cli_app, [*base, "https://ps.example.com", *database, "--json"])
    shown = orjson.loads(as_json.output)
    assert shown["url"].startswith("https://ps.example.com/portal/login/psl_")
    expires = dt.datetime.fromisoformat(shown["expiresAt"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < expires <= dt.timedelta(days=7)

    unknown = CliRunner().invoke(
        cli_app, ["admin", "portal-link", "--account", "nobody", *database]
    )
    assert unknown.exit_code == 1


def test_the_portal_is_outside_the_api(portal_service: RunningService) -> None:
    """Not in the spec, and neither gated by bearer tokens nor counted in rate limits."""
    spec = portal_service.spec()
    assert not [p for p in spec["paths"] if p.startswith("/portal")]
    page = plain_http.get(f"{portal_service.base_url}/portal/endpoints")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "ratelimit-limit" not in page.headers
    missing = plain_http.get(f"{portal_service.base_url}/portal/no/such/page")
    assert missing.status_code == 404 and "Page not found" in missing.text


# --- secrets ----------------------------------------------------------------------------


def test_create_shows_the_new_secret_once_and_no_page_after(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """The answer to Create, a POST's and no redirect, shows the secret; no GET shows it,
    and Reveal, which showed it again on any press, is gone."""
    form = visitor.http.get("/portal/endpoints/new")
    sent = {"url": URL, "events": ["producersync"], "submission": _hidden(form, "submission")}
    created = visitor.form("/portal/endpoints", **sent)
    endpoint_id = _created(created)
    assert "location" not in created.headers
    assert created.headers["cache-control"] == "no-store"
    secret = _api_secret(portal_service, visitor, endpoint_id)
    assert _SECRET.findall(created.text) == [secret]
    assert "Copy it now: it is not shown again" in created.text
    assert "Endpoint created" in created.text  # and its test event queued, as before
    with portal_service.engine.connect() as conn:
        (message,) = outbox.list_messages(conn, visitor.creds.account_id, limit=10)
    assert message.event_type == ENDPOINT_TEST

    _no_page_shows_a_secret(visitor, endpoint_id)
    for reveal in ("/secret", "/secret/reveal"):
        gone = visitor.form(f"/portal/endpoints/{endpoint_id}{reveal}")
        assert gone.status_code in (404, 405), gone.text
        assert secret not in gone.text
    _no_page_shows_a_secret(visitor, endpoint_id)

    # Sent again (a second press, a reload or Back on the answer): no second endpoint, and
    # no secret, the one shown first included.
    again = visitor.form("/portal/endpoints", **sent)
    assert again.status_code == 303, again.text
    assert again.headers["location"] == f"/portal/endpoints/{endpoint_id}?notice=created_before"
    assert not _SECRET.search(again.text)
    landed = visitor.http.get(again.headers["location"])
    assert "This form was sent before" in landed.text and not _SECRET.search(landed.text)
    with portal_service.engine.connect() as conn:
        assert [e.id for e in endpoints.list_endpoints(conn, visitor.creds.account_id)] == [
            endpoint_id
        ]
    assert _api_secret(portal_service, visitor, endpoint_id) == secret


def test_a_create_sent_twice_at_once_makes_one_endpoint(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Each made its own id as it was sent: only the check of the form's key under the
    account's lock (PostgreSQL) or the store's one writer (SQLite) keeps the second from
    making a second endpoint."""
    sent = {
        "url": URL,
        "submission": _hidden(visitor.http.get("/portal/endpoints/new"), "submission"),
    }
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: visitor.form("/portal/endpoints", **sent), range(4)))
    with portal_service.engine.connect() as conn:
        (endpoint,) = endpoints.list_endpoints(conn, visitor.creds.account_id)
    assert sorted(a.status_code for a in answers) == [200, 303, 303, 303]
    assert _created(next(a for a in answers if a.status_code == 200)) == endpoint.id


def test_an_endpoint_takes_its_id_when_its_form_is_sent(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Ids sort by time: made with the page, a form opened first and sent last made an
    endpoint listed before those created in between, and a form sent again after its
    endpoint was deleted made it again under the same id."""
    opened_first = _hidden(visitor.http.get("/portal/endpoints/new"), "submission")
    opened_last = _hidden(visitor.http.get("/portal/endpoints/new"), "submission")
    assert opened_first != opened_last
    sent_first = _created(visitor.form("/portal/endpoints", url=URL, submission=opened_last))
    sent_last = _created(visitor.form("/portal/endpoints", url=URL, submission=opened_first))
    with portal_service.engine.connect() as conn:
        listed = [e.id for e in endpoints.list_endpoints(conn, visitor.creds.account_id)]
    assert listed == [sent_last, sent_first]
    with write_transaction(portal_service.engine) as conn:
        assert endpoints.delete_endpoint(conn, visitor.creds.account_id, sent_last)
    again = _created(visitor.form("/portal/endpoints", url=URL, submission=opened_first))
    assert again not in (sent_first, sent_last)


def test_endpoints_made_in_one_millisecond_are_listed_newest_first_as_the_api_lists_them(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """They were listed oldest first, the reverse of the API's pages."""
    made = endpoints_made_in_one_millisecond(portal_service.engine, visitor.creds.account_id, 4)
    page = visitor.http.get("/portal/endpoints")
    assert page.status_code == 200, page.text
    linked = re.findall(r'href="/portal/endpoints/(ep_[0-9a-f]+)"', page.text)
    assert list(dict.fromkeys(linked)) == made[::-1]


def test_the_endpoints_are_listed_a_page_at_a_time(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Every endpoint of the account was on one page: 5,000 made a page of 1.8 MB, a
    second to read and longer to draw, each time it was shown. 20 a page, paged as the
    attempts are."""
    account_id = visitor.creds.account_id
    urls = [f"https://hooks.example.com/{n}" for n in range(45)]
    with write_transaction(portal_service.engine) as conn:
        for url in urls:
            endpoints.create_endpoint(conn, account_id, url)
    newest_first = urls[::-1]

    def listed(page: httpx2.Response) -> list[str]:
        assert page.status_code == 200, page.text
        return re.findall(r'<a class="url" href="[^"]+">([^<]+)</a>', page.text)

    pages = [visitor.http.get("/portal/endpoints")]
    while (older := _older(pages[-1])) is not None:
        pages.append(visitor.http.get(older))
    assert [listed(page) for page in pages] == [
        newest_first[:20],
        newest_first[20:40],
        newest_first[40:],
    ]
    assert _link(pages[0], "Newer") is None and _link(pages[0], "Newest") is None
    for above, page in itertools.pairwise(pages):
        assert _link(page, "Newest") == "/portal/endpoints"
        assert listed(visitor.http.get(_link(page, "Newer") or "")) == listed(above)
    assert listed(visitor.http.get(_link(pages[0], "Oldest") or "")) == urls[19::-1]

    # Named by the first made (an address kept, those below it deleted since): none older.
    with portal_service.engine.connect() as conn:
        (first,) = endpoints.list_endpoints(conn, account_id, oldest=True, limit=1)
    beyond = visitor.http.get("/portal/endpoints", params={"before": first.seq})
    assert listed(beyond) == [] and "No endpoints were made before this page" in beyond.text
    assert _link(beyond, "Newest") == "/portal/endpoints"


def test_a_form_key_names_no_endpoint_of_another_account(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A key is the account's own: another's form, its key copied, creates an endpoint."""
    key = _hidden(visitor.http.get("/portal/endpoints/new"), "submission")
    mine = _created(visitor.form("/portal/endpoints", url=URL, submission=key))
    other = sign_in(portal_service, portal_service.account())
    try:
        theirs = _created(other.form("/portal/endpoints", url=URL, submission=key))
    finally:
        other.http.close()
    assert theirs != mine


def test_rotate_shows_the_new_secret_once_and_sent_again_rotates_nothing_more(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    old = _api_secret(portal_service, visitor, endpoint_id)
    overview = visitor.http.get(f"/portal/endpoints/{endpoint_id}")
    sent = {"rotating": _hidden(overview, "rotating")}
    rotated = visitor.form(f"/portal/endpoints/{endpoint_id}/secret/rotate", **sent)
    assert rotated.status_code == 200, rotated.text
    assert "location" not in rotated.headers
    assert rotated.headers["cache-control"] == "no-store"
    new = _api_secret(portal_service, visitor, endpoint_id)
    assert new != old and _SECRET.findall(rotated.text) == [new]
    assert "Copy it now: it is not shown again" in rotated.text
    assert f'href="/portal/endpoints/{endpoint_id}"' in rotated.text
    with portal_service.engine.connect() as conn:  # the old one signs on beside it
        assert endpoints.active_secrets(conn, [endpoint_id])[endpoint_id] == [new, old]
    _no_page_shows_a_secret(visitor, endpoint_id)

    again = visitor.form(f"/portal/endpoints/{endpoint_id}/secret/rotate", **sent)
    assert again.status_code == 303, again.text
    assert again.headers["location"] == f"/portal/endpoints/{endpoint_id}?notice=rotated_before"
    landed = visitor.http.get(again.headers["location"])
    assert "The secret was rotated after this page was opened" in landed.text
    assert not _SECRET.search(landed.text)
    assert _api_secret(portal_service, visitor, endpoint_id) == new

    # The Overview as it is now rotates again, once.
    fresh = {"rotating": _hidden(visitor.http.get(f"/portal/endpoints/{endpoint_id}"), "rotating")}
    assert fresh != sent
    newer = visitor.form(f"/portal/endpoints/{endpoint_id}/secret/rotate", **fresh)
    assert _SECRET.findall(newer.text) == [_api_secret(portal_service, visitor, endpoint_id)]


def test_a_rotation_says_until_when_the_previous_secret_signs(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """The old secret signs on "for a grace period" was all a rotation said, and the
    Overview nothing at all: not whether one was running, nor the time by which the
    receiver had to be switched to the new secret."""
    endpoint_id = _create(visitor)
    path = f"/portal/endpoints/{endpoint_id}"

    def said(page: httpx2.Response) -> str:
        return _words(page.text)

    before = said(visitor.http.get(path))
    assert "previous secret" not in before
    assert "the previous one keeps signing beside it for 1 day." in before  # the default
    rotated = visitor.form(f"{path}/secret/rotate")
    with portal_service.engine.connect() as conn:
        (ends,) = endpoints.secrets_in_grace(conn, endpoint_id)
    assert ends - dt.datetime.now(dt.UTC) > dt.timedelta(hours=23)  # the default, a day
    until = ends.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"until {until} , the previous secret signs each event too" in said(rotated)
    overview = said(visitor.http.get(path))
    assert (
        f"The previous secret still signs each event beside the current one, until {until} ."
        in overview
    )
    visitor.form(f"{path}/secret/rotate")
    assert "2 previous secrets still sign each event" in said(visitor.http.get(path))


def test_a_rotate_form_drawn_before_a_rotation_elsewhere_does_not_say_it_was_sent(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Rotated through the API (or in another tab) after the Overview was drawn, its
    Rotate form, sent for the first time, was told "This form was sent before"."""
    endpoint_id = _create(visitor)
    stale = {"rotating": _hidden(visitor.http.get(f"/portal/endpoints/{endpoint_id}"), "rotating")}
    with portal_service.client(visitor.creds) as api:
        assert api.post(f"/v1/webhooks/endpoints/{endpoint_id}/secret/rotate").status_code == 200
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/secret/rotate", **stale)
    landed = visitor.http.get(sent.headers["location"])
    notice = re.search(r'class="notice"[^>]*>([^<]*)<', landed.text)
    assert notice, landed.text
    assert "This form was sent before" not in notice.group(1)
    assert "in another tab or through the API" in notice.group(1)


@pytest.mark.parametrize(
    ("form", "fields", "says"),
    [
        ("/endpoints", {"url": URL, "submission": "ep_NOPE"}, "Field 'submission'"),
        ("/endpoints", {"url": URL, "submission": "x" * 80}, "'" + "x" * 60 + "'"),
        ("/endpoints/{ep}/secret/rotate", {"rotating": "-1"}, "Field 'rotating' is not"),
        ("/endpoints/{ep}/secret/rotate", {"rotating": "9" * 30}, "'" + "9" * 30 + "'"),
        ("/endpoints/{ep}/edit", {"url": URL + "/x", "shown": "ABC"}, "Field 'shown' is not"),
    ],
    ids=["id", "long-id", "rotating", "long-rotating", "shown"],
)
def test_what_a_secret_form_names_is_checked_and_a_bad_one_changes_nothing(
    portal_service: RunningService,
    visitor: SignedIn,
    form: str,
    fields: dict[str, str],
    says: str,
) -> None:
    endpoint_id = _create(visitor)
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.form(_path(form, endpoint_id, "unused"), **fields)
    assert page.status_code == 400, page.text
    assert says in page.text.replace("&#39;", "'") and "Nothing was changed" in page.text
    assert not _SECRET.search(page.text)
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_refused_create_keeps_the_key_its_page_made(visitor: SignedIn) -> None:
    """Redrawn with its error, the form keeps its key, so it is sent again as the same
    form."""
    key = _hidden(visitor.http.get("/portal/endpoints/new"), "submission")
    refused = visitor.form("/portal/endpoints", url="ftp://x.example", submission=key)
    assert refused.status_code == 400 and _hidden(refused, "submission") == key
    created = _created(visitor.form("/portal/endpoints", url=URL, submission=key))
    again = visitor.form("/portal/endpoints", url=URL, submission=key)
    assert again.headers["location"] == f"/portal/endpoints/{created}?notice=created_before"


_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",  # a login link's token is in its path
}


def test_every_answer_carries_the_security_headers(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    token = issue_link(portal_service, portal_service.account().account_id)
    answers = {
        "login page": plain_http.get(f"{portal_service.base_url}/portal/login/{token}"),
        "not signed in": plain_http.get(f"{portal_service.base_url}/portal/endpoints"),
        "page": visitor.http.get(f"/portal/endpoints/{endpoint_id}"),
        "redirect": visitor.form(f"/portal/endpoints/{endpoint_id}/disable"),
        "refused form": visitor.form(f"/portal/endpoints/{endpoint_id}/rate-limit", rate_limit="x"),
        "not found": visitor.http.get("/portal/endpoints/ep_nosuchendpoint"),
        "static": visitor.http.get("/portal/static/portal.css"),
    }
    for name, answer in answers.items():
        assert answer.status_code in (200, 303, 400, 401, 404), name
        for header, value in _HEADERS.items():
            assert answer.headers.get(header) == value, (name, header)
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy, name
        no_store = answer.headers.get("cache-control") == "no-store"
        assert no_store == (name != "static"), name


def test_the_forms_script_is_the_portals_own_and_served_as_javascript(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """forms.js, which keeps a form from being sent twice from the page, is loaded as
    htmx is: deferred, from the portal's own origin, which is all the content policy
    runs (no inline script), and served as JavaScript, which ``nosniff`` requires."""
    page = visitor.http.get("/portal/endpoints")
    scripts = re.findall(r"<script\b[^>]*>", page.text)
    assert scripts == [
        '<script src="/portal/static/htmx.min.js" defer>',
        '<script src="/portal/static/forms.js" defer>',
    ]
    assert "script-src 'self';" in page.headers["content-security-policy"]
    script = visitor.http.get("/portal/static/forms.js")
    assert script.status_code == 200
    assert script.headers["content-type"].split(";")[0] == "text/javascript"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert "eval(" not in script.text


def test_the_page_for_an_unexpected_error_has_the_portal_headers() -> None:
    """Starlette answers an unexpected error outside an app's own middleware: the page
    went without the content policy, the framing refusal and no-store."""
    portal = create_portal()

    @portal.get("/broken")
    def broken() -> None:
        raise RuntimeError("a bug")

    with TestClient(portal, raise_server_exceptions=False) as client:
        page = client.get("/broken")
    assert page.status_code == 500 and "Something went wrong" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


# --- CSRF -------------------------------------------------------------------------------

# Every form of the portal: path (under /portal, with {ep} and {msg}) and its fields.
FORMS: list[tuple[str, dict[str, str | list[str]]]] = [
    ("/endpoints", {"url": URL, "events": ["producersync"]}),
    ("/endpoints/{ep}/edit", {"url": URL + "/edited", "events": ["producersync"]}),
    ("/endpoints/{ep}/secret/rotate", {}),
    ("/endpoints/{ep}/testing", {"type": UPDATES_AVAILABLE}),
    ("/endpoints/{ep}/enable", {}),
    ("/endpoints/{ep}/disable", {}),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "7"}),
    ("/endpoints/{ep}/delete", {"confirm": "yes"}),
    ("/endpoints/{ep}/messages/{msg}/resend", {}),
    ("/messages/{msg}/send", {"endpoint": "ep_0"}),
    ("/endpoints/{ep}/recover", {"since": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT00:00")}),
    ("/logout", {}),
]


def _path(template: str, endpoint_id: str, message_id: str) -> str:
    return "/portal" + template.format(ep=endpoint_id, msg=message_id)


@pytest.mark.parametrize(("form", "fields"), FORMS, ids=[f for f, _ in FORMS])
@pytest.mark.parametrize(
    "token",
    [lambda _other: None, lambda _other: "forged", lambda other: other.csrf],
    ids=["missing", "wrong", "another-sessions"],
)
def test_a_form_without_its_sessions_token_is_refused_and_changes_nothing(
    portal_service: RunningService,
    visitor: SignedIn,
    form: str,
    fields: dict[str, str | list[str]],
    token: Callable[[SignedIn], str | None],
) -> None:
    endpoint_id = _create(visitor)
    message_id = _message(portal_service, visitor.creds.account_id)
    other = sign_in(portal_service, portal_service.account())
    other.http.close()
    given = token(other)
    before = _state(portal_service, visitor.creds.account_id)
    data = {**fields, **({"csrf": given} if given is not None else {})}
    refused = visitor.http.post(_path(form, endpoint_id, message_id), data=data)
    assert refused.status_code == 403, refused.text
    assert "Nothing was changed" in refused.text
    assert _state(portal_service, visitor.creds.account_id) == before
    assert visitor.http.get("/portal/endpoints").status_code == 200  # still signed in


# Forms posted to the address of a page, which a GET shows.
_ALSO_PAGES = {"/endpoints", "/endpoints/{ep}/edit", "/endpoints/{ep}/testing"}


@pytest.mark.parametrize("form", [f for f, _ in FORMS if f not in _ALSO_PAGES])
def test_no_form_acts_on_a_get(
    portal_service: RunningService, visitor: SignedIn, form: str
) -> None:
    """A link, an image or a prefetch is a GET: none of them changes anything."""
    endpoint_id = _create(visitor)
    message_id = _message(portal_service, visitor.creds.account_id)
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.http.get(_path(form, endpoint_id, message_id), params={"csrf": visitor.csrf})
    assert page.status_code == 405, page.text
    assert _state(portal_service, visitor.creds.account_id) == before
    assert visitor.http.get("/portal/endpoints").status_code == 200  # not signed out


@pytest.mark.parametrize("form", sorted(_ALSO_PAGES))
def test_a_page_that_takes_a_form_allows_both_methods(
    portal_service: RunningService, visitor: SignedIn, form: str
) -> None:
    """``allow`` named the first route's method alone, GET, on a page whose form is
    POSTed to its own address; and never HEAD."""
    page = visitor.http.put(_path(form, _create(visitor), "msg_0"))
    assert page.status_code == 405, page.text
    assert page.headers["allow"] == "GET, HEAD, POST"


# A form sent from a page of the portal itself, as a browser says it.
_FROM_THE_PORTAL = {"sec-fetch-site": "same-origin"}
_TYPED = {"url": "https://hooks.example.com/ünïcode", "description": "Line one é 日本\nline two"}


def _typed_url(page: httpx2.Response) -> str:
    found = re.search(r'name="url"[^>]* value="([^"]*)"', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


def _sign_in_again(service: RunningService, visitor: SignedIn) -> None:
    """The visitor's browser signed in again (in another tab, say): a new session, and
    the token of the forms already drawn no longer its."""
    again = sign_in(service, visitor.creds)
    visitor.http.cookies = again.http.cookies
    again.http.close()


def _left(service: RunningService, visitor: SignedIn, signed_out: bool) -> str:
    """The token of the forms drawn so far, once the visitor signed out, or in again."""
    stale = visitor.csrf
    if signed_out:
        assert visitor.form("/portal/logout").status_code == 303
    else:
        _sign_in_again(service, visitor)
    return stale


def _kept_as_typed(page: httpx2.Response, status: int, events: list[str]) -> None:
    assert page.status_code == status, page.text
    assert "nothing was saved" in page.text
    assert _typed_url(page) == _TYPED["url"]
    assert _textarea(page, "description") == _TYPED["description"]
    assert _ticked(page) == events


@pytest.mark.parametrize("signed_out", [False, True], ids=["stale-token", "signed-out"])
def test_an_add_endpoint_form_refused_for_its_session_is_drawn_again_as_typed(
    portal_service: RunningService, visitor: SignedIn, signed_out: bool
) -> None:
    """A session that expired while the form was open, or a sign-out or new sign-in in
    another tab, lost what was typed to the refusal's page. The form is drawn again as
    sent, nothing done, and sent from there once signed in, it creates the endpoint
    once."""
    events = [NPN_ACTIVATED]
    key = _hidden(visitor.http.get("/portal/endpoints/new"), "submission")
    stale = _left(portal_service, visitor, signed_out)
    before = _state(portal_service, visitor.creds.account_id)
    fields = {**_TYPED, "events": events, "submission": key, "csrf": stale}
    kept = visitor.http.post("/portal/endpoints", data=fields, headers=_FROM_THE_PORTAL)
    _kept_as_typed(kept, 401 if signed_out else 403, events)
    assert _hidden(kept, "submission") == key
    if not signed_out:  # the sign-in since may be to another account: it is named
        alert = kept.text.split('role="alert"')[1].split("</div>")[0]
        assert re.search(
            rf"signed in to\s+<strong><bdi>{visitor.creds.account}</bdi></strong>", alert
        )
    assert _state(portal_service, visitor.creds.account_id) == before
    if signed_out:
        assert 'name="csrf"' not in kept.text  # no session, no token
        _sign_in_again(portal_service, visitor)
        fields.pop("csrf")
        kept = visitor.http.post("/portal/endpoints", data=fields, headers=_FROM_THE_PORTAL)
        _kept_as_typed(kept, 403, events)  # signed in, but this form's token is none
        assert _state(portal_service, visitor.creds.account_id) == before
    fresh = csrf_of(kept.text)
    assert fresh == csrf_of(visitor.http.get("/portal/endpoints").text)
    endpoint_id = _created(visitor.http.post("/portal/endpoints", data={**fields, "csrf": fresh}))
    with portal_service.engine.connect() as conn:
        (created,) = endpoints.list_endpoints(conn, visitor.creds.account_id)
    assert created.id == endpoint_id
    assert (created.url, created.description) == (_TYPED["url"], _TYPED["description"])
    assert created.event_types == events


@pytest.mark.parametrize("signed_out", [False, True], ids=["stale-token", "signed-out"])
def test_an_edit_form_refused_for_its_session_is_drawn_again_as_typed(
    portal_service: RunningService, visitor: SignedIn, signed_out: bool
) -> None:
    """Drawn again with the digest it was sent with, so a change made elsewhere since
    is still not undone unseen; signed out, the page shows nothing of the endpoint but
    what the form sent."""
    endpoint_id = _create(visitor, "https://stored.example.com/hook")
    path = f"/portal/endpoints/{endpoint_id}/edit"
    shown = _hidden(visitor.http.get(path), "shown")
    stale = _left(portal_service, visitor, signed_out)
    before = _state(portal_service, visitor.creds.account_id)
    fields = {**_TYPED, "events": [NPN_DEACTIVATED], "shown": shown, "csrf": stale}
    kept = visitor.http.post(path, data=fields, headers=_FROM_THE_PORTAL)
    _kept_as_typed(kept, 401 if signed_out else 403, [NPN_DEACTIVATED])
    assert _hidden(kept, "shown") == shown
    assert f'action="{path}"' in kept.text
    assert ("stored.example.com" in kept.text) is not signed_out
    assert _state(portal_service, visitor.creds.account_id) == before


@pytest.mark.parametrize("site", [None, "cross-site", "same-site", "none"])
def test_a_refused_form_from_elsewhere_is_not_drawn_again(
    portal_service: RunningService, visitor: SignedIn, site: str | None
) -> None:
    """Another site's form, a sibling subdomain's, or one no browser says the origin of,
    gets the plain refusal: none draws a portal form filled as it likes."""
    headers = {"sec-fetch-site": site} if site else {}
    before = _state(portal_service, visitor.creds.account_id)
    data = {**_TYPED, "events": [NPN_ACTIVATED], "csrf": "forged"}
    refused = visitor.http.post("/portal/endpoints", data=data, headers=headers)
    assert refused.status_code == 403 and "Nothing was changed" in refused.text
    assert "hooks.example.com" not in refused.text and "<form" not in refused.text.split("<main")[1]
    assert _state(portal_service, visitor.creds.account_id) == before


# --- one account, its own endpoints -----------------------------------------------------


def test_another_accounts_endpoint_is_not_found_and_untouched(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    message_id = _message(portal_service, visitor.creds.account_id)
    before = _state(portal_service, visitor.creds.account_id)
    intruder = sign_in(portal_service, portal_service.account())
    try:
        listed = intruder.http.get("/portal/endpoints").text
        assert endpoint_id not in listed and URL not in listed
        for tab in ("", "/testing", "/advanced", "/attempts", "/edit"):
            page = intruder.http.get(f"/portal/endpoints/{endpoint_id}{tab}")
            assert page.status_code == 404 and "Endpoint not found" in page.text
            assert URL not in page.text
        for form, fields in FORMS:
            if "{ep}" in form:
                answer = intruder.form(_path(form, endpoint_id, message_id), **fields)
                assert answer.status_code == 404, (form, answer.text)
        # Through an endpoint of its own, another account's message is not found either.
        own = _create(intruder)
        stolen = intruder.form(f"/portal/endpoints/{own}/messages/{message_id}/resend")
        assert stolen.status_code == 404 and "Message not found" in stolen.text
    finally:
        intruder.http.close()
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_disabled_endpoint_says_that_what_is_queued_to_it_waits(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Send Example, Resend and Recover queue an attempt that a disabled endpoint does not
    get until it is enabled; the Testing tab said "See it arrive under Message Attempts"."""
    endpoint_id = _create(visitor)
    assert visitor.form(f"/portal/endpoints/{endpoint_id}/disable").status_code == 303
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/testing", type=UPDATES_AVAILABLE)
    assert sent.status_code == 303
    page = visitor.http.get(sent.headers["location"]).text
    notice = re.search(r'class="notice"[^>]*>(.*?)</p>', page, re.S)
    assert notice and "Example queued" in notice[1] and "See it arrive" not in notice[1]
    assert "sent when the endpoint is enabled" in notice[1]
    for tab in ("/testing", "/attempts"):
        shown = visitor.http.get(f"/portal/endpoints/{endpoint_id}{tab}").text
        assert 'class="held"' in shown and "waits until it is enabled" in shown, tab

    assert visitor.form(f"/portal/endpoints/{endpoint_id}/enable").status_code == 303
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/testing", type=UPDATES_AVAILABLE)
    page = visitor.http.get(sent.headers["location"]).text
    assert "Example sent" in page and "See it arrive" in page and 'class="held"' not in page


def test_an_example_sent_links_to_its_message(visitor: SignedIn) -> None:
    """Send Example named the message it sent as text: how it stood at each endpoint, its
    next attempt, was to be found by its id on Messages."""
    endpoint_id = _create(visitor)
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/testing", type=UPDATES_AVAILABLE)
    assert sent.status_code == 303, sent.text
    page = visitor.http.get(sent.headers["location"]).text
    found = re.search(r'class="notice"[^>]*>.*?<a href="(/portal/messages/(evt_\w+))"', page, re.S)
    assert found, page
    message = visitor.http.get(found[1])
    assert message.status_code == 200 and found[2] in message.text


def test_the_advanced_tab_says_how_many_deliveries_disabling_holds_and_deleting_drops(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """ "The deliveries still waiting for it go with it" was all Delete said, of none or
    of 50,000 alike, and Disable and Enable said nothing of what they hold or send."""
    endpoint_id = _create(visitor)  # its test message waits for it
    other = _create(visitor, URL + "/other")  # whose deliveries are not this one's
    with write_transaction(portal_service.engine) as conn:
        publish_events(
            conn, visitor.creds.account_id, [UpdatesAvailable.create(dt.date(2026, 1, 1))]
        )
    path = f"/portal/endpoints/{endpoint_id}/advanced"

    def said() -> str:
        page = visitor.http.get(path)
        assert page.status_code == 200, page.text
        return _words(page.text)

    enabled = said()
    assert "2 deliveries are waiting to be sent to it or retried." in enabled
    assert "go with it (2 now)" in enabled
    assert visitor.form(f"/portal/endpoints/{endpoint_id}/disable").status_code == 303
    assert "2 deliveries are waiting for it." in said()
    _set_deliveries(portal_service, endpoint_id, state=outbox.SUCCEEDED)
    none = said()
    assert "No delivery is waiting for it." in none and "go with it (none now)" in none
    assert (
        "2 deliveries are waiting" in visitor.http.get(f"/portal/endpoints/{other}/advanced").text
    )


def test_an_endpoint_failing_says_since_when_and_by_when_it_is_disabled(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An endpoint failing for days, to be disabled at its next failure past five, was
    shown Enabled as one that never failed, on the list and its Overview alike: that it
    was disabled was the first the portal told of it."""
    endpoint_id = _create(visitor, URL + "/failing")
    since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(failing_since=since)
        )
    ends = since + dt.timedelta(seconds=portal_service.settings.webhook_disable_after_seconds)

    def said(path: str) -> str:
        page = visitor.http.get(path)
        assert page.status_code == 200, page.text
        return _words(page.text)

    at = "%Y-%m-%d %H:%M:%S UTC"
    overview = said(f"/portal/endpoints/{endpoint_id}")
    assert (
        f"Every attempt has failed since {since.strftime(at)} . Unless one succeeds by "
        f"{ends.strftime(at)} , the next to fail disables the endpoint." in overview
    )
    row = said("/portal/endpoints").split("/failing")[1]
    assert row.startswith(f" producersync Enabled Failing since {since.strftime(at)} ")
    assert visitor.form(f"/portal/endpoints/{endpoint_id}/disable").status_code == 303
    assert "has failed since" not in said(f"/portal/endpoints/{endpoint_id}")


def test_the_endpoints_list_says_why_an_endpoint_is_disabled(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """One disabled for failing too long and one paused in the portal were both a bare
    Disabled on the list: the reason was on each Overview alone."""
    paused = _create(visitor, URL + "/paused")
    assert visitor.form(f"/portal/endpoints/{paused}/disable").status_code == 303
    failed = _create(visitor, URL + "/failed")
    with write_transaction(portal_service.engine) as conn:
        endpoints.disable_endpoint(conn, None, failed, "failing for too long")
    listed = visitor.http.get("/portal/endpoints").text
    rows = {name: _words(listed.split(f"/{name}</a>")[1]) for name in ("paused", "failed")}
    assert rows["paused"].startswith("producersync Disabled disabled in the portal ")
    assert rows["failed"].startswith("producersync Disabled failing for too long ")


def _notice(page: httpx2.Response) -> str | None:
    """The words of the page's notice, if it has one."""
    found = re.search(r'class="notice"[^>]*>(.*?)</p>', page.text, re.S)
    return " ".join(found[1].split()) if found else None


def test_a_notice_of_a_state_the_endpoint_has_left_is_not_shown_again(visitor: SignedIn) -> None:
    """Disable, Enable, then Back to the page Disable led to (or it reloaded, or its
    address kept): it said "Endpoint disabled: nothing is sent to it" above the Enabled
    badge of an endpoint sent to, and the other way round."""
    endpoint_id = _create(visitor)
    base = f"/portal/endpoints/{endpoint_id}"
    disabled = visitor.form(f"{base}/disable").headers["location"]
    assert (_notice(visitor.http.get(disabled)) or "").startswith("Endpoint disabled")
    enabled = visitor.form(f"{base}/enable").headers["location"]
    assert (_notice(visitor.http.get(enabled)) or "").startswith("Endpoint enabled")

    back = visitor.http.get(disabled)
    assert back.status_code == 200 and "Enable endpoint" not in back.text
    assert _notice(back) is None, _notice(back)
    visitor.form(f"{base}/disable")
    assert _notice(visitor.http.get(enabled)) is None
    assert (_notice(visitor.http.get(disabled)) or "").startswith("Endpoint disabled")


@pytest.mark.parametrize(("sent", "shown"), [("evt_1", True), ("evt_1\n", False)])
def test_the_testing_tab_names_only_a_message_id_as_sent(
    visitor: SignedIn, sent: str, shown: bool
) -> None:
    """Only an id is echoed; the check let a trailing newline through (``$`` in a match)."""
    endpoint_id = _create(visitor)
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/testing", params={"sent": sent})
    assert page.status_code == 200, page.text
    assert ('class="notice"' in page.text) == shown


def _stored(service: RunningService, visitor: SignedIn, endpoint_id: str) -> Endpoint:
    """The endpoint as the store holds it for the visitor's account."""
    with service.engine.connect() as conn:
        endpoint = endpoints.get_endpoint(conn, visitor.creds.account_id, endpoint_id)
    assert endpoint is not None
    return endpoint


def _words(markup: str) -> str:
    """The text of an HTML fragment, its tags and runs of white space each one space."""
    return " ".join(re.sub(r"<[^>]+>", " ", markup).split())


def _set_deliveries(service: RunningService, endpoint_id: str, **values: object) -> None:
    """Every delivery to the endpoint given these values, as if delivering had got there."""
    with write_transaction(service.engine) as conn:
        conn.execute(
            webhook_deliveries.update()
            .where(webhook_deliveries.c.endpoint_id == endpoint_id)
            .values(**values)
        )


def _textarea(page: httpx2.Response, name: str) -> str:
    """A textarea's text as a browser reads it: the line break just after the tag is the
    parser's to drop, and a CR (alone or before LF) reads as LF."""
    found = re.search(rf'<textarea[^>]* name="{name}"[^>]*>(.*?)</textarea>', page.text, re.S)
    assert found, f"the page has no textarea {name!r}"
    text = html.unescape(found.group(1)).replace("\r\n", "\n").replace("\r", "\n")
    return text.removeprefix("\n")


@pytest.mark.parametrize(
    "description",
    [
        "First line\nSecond line",
        "\nBegins with a line break",
        "Lines ended as CRLF\r\n<b>and</b> a lone\rCR\r\n",
        "  outer spaces  ",
        "\U0001f600" * 500,  # 500 characters, 1000 UTF-16 units
    ],
    ids=["lines", "leading-break", "crlf-cr", "spaces", "emoji"],
)
def test_an_edit_of_another_field_keeps_the_description_the_api_set(
    portal_service: RunningService, visitor: SignedIn, description: str
) -> None:
    """The API takes a description of any lines; the Edit page showed it in a one-line
    input, whose value a browser strips of line breaks, so saving a change of the events
    changed the description too."""
    endpoint_id = _create(visitor)
    with portal_service.client(visitor.creds) as api:
        path = f"/v1/webhooks/endpoints/{endpoint_id}"
        assert api.patch(path, json={"description": description}).status_code == 200

    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/edit")
    shown = _textarea(page, "description")
    assert shown == description.replace("\r\n", "\n").replace("\r", "\n")
    # Sent back as a browser sends a textarea: every line break as CRLF.
    saved = visitor.form(
        f"/portal/endpoints/{endpoint_id}/edit",
        url=URL,
        description=shown.replace("\n", "\r\n"),
        events=[NPN_ACTIVATED],
    )
    assert saved.status_code == 303, saved.text
    endpoint = _stored(portal_service, visitor, endpoint_id)
    assert endpoint.event_types == [NPN_ACTIVATED]
    assert endpoint.description == description


def test_a_description_typed_on_several_lines_keeps_them(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Stored with the line breaks the API would be given (LF), not a browser's CRLF, and
    shown as lines."""
    created = visitor.form(
        "/portal/endpoints",
        url=URL,
        description="  Receiver of Acme\r\nOn call: ops\r\n",
        events=["producersync"],
    )
    endpoint_id = _created(created)
    endpoint = _stored(portal_service, visitor, endpoint_id)
    assert endpoint.description == "Receiver of Acme\nOn call: ops"
    overview = visitor.http.get(f"/portal/endpoints/{endpoint_id}").text
    assert '<dd class="lines" dir="auto">Receiver of Acme\nOn call: ops</dd>' in overview


def _ticked(page: httpx2.Response) -> list[str]:
    """The event types a form shows ticked, as a browser would send them back."""
    return re.findall(r'name="events" value="([^"]+)"[^>]* checked', page.text)


@pytest.mark.parametrize(
    "event_types", [None, ["producersync"], [NPN_ACTIVATED, UPDATES_AVAILABLE]]
)
def test_an_edit_of_another_field_keeps_the_event_filter(
    portal_service: RunningService, visitor: SignedIn, event_types: list[str] | None
) -> None:
    """No filter (every type) was shown as the group ticked, and saved as it: an edit of
    the description changed ``eventTypes`` from null to ``["producersync"]``."""
    with portal_service.client(visitor.creds) as api:
        made = api.post(
            "/v1/webhooks/endpoints",
            json={"url": URL, "eventTypes": event_types},
        )
        assert made.status_code == 201, made.text
        endpoint_id = made.json()["id"]
        page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/edit")
        assert _ticked(page) == (event_types or [])
        saved = visitor.form(
            f"/portal/endpoints/{endpoint_id}/edit",
            url=URL,
            description="Edited",
            events=_ticked(page),
        )
        assert saved.status_code == 303, saved.text
        shown = api.get(f"/v1/webhooks/endpoints/{endpoint_id}").json()
    assert (shown["description"], shown["eventTypes"]) == ("Edited", event_types)


def test_an_edit_onto_an_endpoint_changed_since_shows_it_and_saves_nothing(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An Edit form opened before a change made elsewhere (another tab, the API) saved its
    stale fields over it, unseen, and said "Changes saved": a URL edited in one tab put
    back the description and event filter another tab had just changed, the filter back
    to every type."""
    endpoint_id = _created(visitor.form("/portal/endpoints", url=URL, description="Before"))
    path = f"/portal/endpoints/{endpoint_id}/edit"
    stale = visitor.http.get(path)
    assert visitor.form(path, url=URL, description="Elsewhere", events=[NPN_ACTIVATED]).is_redirect
    before = _state(portal_service, visitor.creds.account_id)

    typed = {"url": URL + "/typed", "description": _textarea(stale, "description")}
    refused = visitor.form(path, shown=_hidden(stale, "shown"), **typed, events=_ticked(stale))
    assert refused.status_code == 409, refused.text
    assert _state(portal_service, visitor.creds.account_id) == before
    assert "this endpoint was changed since this form was opened" in refused.text
    assert "Elsewhere" in refused.text and NPN_ACTIVATED in refused.text  # what it has now
    assert f'value="{URL}/typed"' in refused.text  # what was typed, kept

    # Sent again from the page that said so, it is saved as typed.
    again = visitor.form(path, shown=_hidden(refused, "shown"), **typed, events=[])
    assert again.status_code == 303, again.text
    endpoint = _stored(portal_service, visitor, endpoint_id)
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (
        URL + "/typed",
        "Before",
        None,
    )


def test_an_edit_sent_twice_is_saved_not_refused_as_changed_elsewhere(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An Edit form sent a second time (pressed twice without JavaScript, Back and send,
    a retrying proxy) found the endpoint changed since it was drawn, by its own first
    sending, and was refused with 409: "changed in another tab, or through the API", and
    "saving would have undone that", above an endpoint that had what was typed."""
    endpoint_id = _created(visitor.form("/portal/endpoints", url=URL, description="Before"))
    path = f"/portal/endpoints/{endpoint_id}/edit"
    page = visitor.http.get(path)
    typed = {"url": URL + "/moved", "description": "After", "events": [NPN_DEACTIVATED]}
    for _ in range(2):
        sent = visitor.form(path, shown=_hidden(page, "shown"), **typed)
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == f"/portal/endpoints/{endpoint_id}?notice=saved"
    endpoint = _stored(portal_service, visitor, endpoint_id)
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (
        URL + "/moved",
        "After",
        [NPN_DEACTIVATED],
    )


def test_the_filter_can_be_narrowed_and_dropped_again(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _created(visitor.form("/portal/endpoints", url=URL))  # none ticked: no filter
    path = f"/portal/endpoints/{endpoint_id}/edit"

    def event_types() -> list[str] | None:
        endpoint = _stored(portal_service, visitor, endpoint_id)
        return endpoint.event_types

    assert event_types() is None
    assert "All event types" in visitor.http.get(f"/portal/endpoints/{endpoint_id}").text
    assert visitor.form(path, url=URL, events=[NPN_ACTIVATED]).status_code == 303
    assert event_types() == [NPN_ACTIVATED]
    assert visitor.form(path, url=URL).status_code == 303
    assert event_types() is None


def test_the_form_states_the_timeout_the_sender_keeps(tmp_path: Path) -> None:
    """The hint said 5 seconds whatever PRODUCERSYNC_WEBHOOK_TIMEOUT_SECONDS was."""
    with running_service(
        f"sqlite:///{tmp_path / 'store.db'}", webhook_timeout_seconds=12.5
    ) as service:
        visitor = sign_in(service, service.account())
        endpoint_id = _create(visitor)
        for path in ("/portal/endpoints/new", f"/portal/endpoints/{endpoint_id}/edit"):
            assert "a 2xx answer within 12.5 seconds." in visitor.http.get(path).text, path
        visitor.http.close()


def test_the_overview_states_how_long_a_previous_secret_signs(tmp_path: Path) -> None:
    """Rotate secret said the previous one signs on "for a grace period", whatever
    PRODUCERSYNC_WEBHOOK_SECRET_GRACE_SECONDS was, none included."""
    for grace, said in (
        (129600, "keeps signing beside it for 36 hours."),
        (0, "stops signing at once."),
    ):
        with running_service(
            f"sqlite:///{tmp_path / f'{grace}.db'}", webhook_secret_grace_seconds=grace
        ) as service:
            visitor = sign_in(service, service.account())
            overview = visitor.http.get(f"/portal/endpoints/{_create(visitor)}").text
            assert f"the previous one {said}" in " ".join(overview.split()), grace
            visitor.http.close()


# --- bad input --------------------------------------------------------------------------

LONG = "x" * 501
ALL = ["producersync"]
BAD_INPUT: list[tuple[str, dict[str, str | list[str]], str]] = [
    ("/endpoints", {"url": " ", "events": ALL}, "Give the URL to send the events to"),
    # Not "must use https": http is allowed here (private endpoints, as in development).
    (
        "/endpoints",
        {"url": "ftp://x.example.com", "events": ALL},
        "must be http or https, not 'ftp'",
    ),
    ("/endpoints", {"url": "http://user:pw@127.0.0.1/", "events": ALL}, "credentials"),
    # Space to Python, not to the API (model/spaces.py): the form trimmed and took them.
    ("/endpoints", {"url": "\xa0" + URL, "events": ALL}, "The URL begins with U+00A0"),
    ("/endpoints/{ep}/edit", {"url": "\u2028" + URL, "events": ALL}, "begins with U+2028"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "\x855"}, "'\x855' is not a whole number"),
    # The length typed named, where pydantic's "String should have at most 500 characters"
    # named only the limit.
    (
        "/endpoints",
        {"url": URL, "description": LONG, "events": ALL},
        "Too long: 501 characters, at most 500",
    ),
    # Worded for a list ("at most 2048 items after validation") until the length came first.
    (
        "/endpoints",
        {"url": URL + "/" + "a" * 2048, "events": ALL},
        f"Too long: {len(URL) + 2049:,} characters, at most 2,048",
    ),
    ("/endpoints", {"url": URL, "events": ["producersync.bogus"]}, "Unknown event type"),
    (
        "/endpoints/{ep}/edit",
        {"url": "javascript:alert(1)", "events": ALL},
        "The URL's scheme must be http or https, not 'javascript'",
    ),
    ("/endpoints/{ep}/edit", {"url": URL, "description": "a\x00b", "events": ALL}, "A NUL"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "abc"}, "'abc' is not a whole number"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "1.5"}, "'1.5' is not a whole number"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "-3"}, "'-3' is not a whole number"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "0"}, "0 is not between 1 and 10000"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "10001"}, "10001 is not between 1 and 10000"),
    # Said to be no whole number: one of more than 9 digits was not read as one.
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "99999999999"}, "99999999999 is not between"),
    ("/endpoints/{ep}/rate-limit", {"rate_limit": "9" * 5000}, "9" * 20 + "… is not between"),
    ("/endpoints/{ep}/recover", {"since": ""}, "Give a date and time (UTC)"),
    ("/endpoints/{ep}/recover", {"since": "yesterday"}, "'yesterday' is not an ISO 8601 time"),
    ("/endpoints/{ep}/recover", {"since": "2020-01-01T00:00"}, "more than 14 days ago"),
    ("/endpoints/{ep}/recover", {"since": "2999-01-01T00:00"}, "is in the future"),
    # As the API: no UTC time to become, refused by its syntax, not by the 14 days.
    (
        "/endpoints/{ep}/recover",
        {"since": "0001-01-01T00:00+14:00"},
        "'0001-01-01T00:00+14:00' is not an ISO",
    ),
    (
        "/endpoints/{ep}/recover",
        {"since": "9999-12-31T23:59-14:00"},
        "'9999-12-31T23:59-14:00' is not an ISO",
    ),
    ("/endpoints/{ep}/testing", {"type": "producersync.bogus"}, "Unknown event type"),
    ("/endpoints/{ep}/testing", {}, "Unknown event type"),
    ("/endpoints/{ep}/delete", {}, "Tick the box to confirm"),
]


@pytest.mark.parametrize(
    ("form", "fields", "says"), BAD_INPUT, ids=[f"{f}:{s[:24]}" for f, _, s in BAD_INPUT]
)
def test_bad_input_is_shown_on_the_form_and_changes_nothing(
    portal_service: RunningService,
    visitor: SignedIn,
    form: str,
    fields: dict[str, str | list[str]],
    says: str,
) -> None:
    endpoint_id = _create(visitor)
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.form(_path(form, endpoint_id, "unused"), **fields)
    assert page.status_code == 400, page.text
    assert says in _error(page)
    assert 'aria-invalid="true"' in page.text and 'role="alert"' in page.text
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_form_that_fails_keeps_what_was_typed(visitor: SignedIn) -> None:
    page = visitor.form(
        "/portal/endpoints",
        url="ftp://typed.example.com/x",
        description="kept <b>escaped</b>",
        events=[NPN_ACTIVATED],
    )
    assert page.status_code == 400
    assert 'value="ftp://typed.example.com/x"' in page.text
    assert "kept &lt;b&gt;escaped&lt;/b&gt;" in page.text
    assert re.search(rf'value="{re.escape(NPN_ACTIVATED)}" checked', page.text)
    assert not re.search(r'value="producersync" checked', page.text)


def test_a_form_body_over_64_kib_is_refused_unread_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """FastAPI reads a form before the route checks the session: uncapped, any client
    could make the service hold a body of any size (a thousand fields of 1 MB each)."""
    before = _state(portal_service, visitor.creds.account_id)
    padding = {f"pad{n}": "x" * 60_000 for n in range(20)}
    page = visitor.form("/portal/endpoints", url=URL, events=ALL, **padding)
    assert page.status_code == 413, page.text
    assert "exceeds 65536 bytes" in page.text and page.headers["content-type"].startswith(
        "text/html"
    )
    assert page.headers["connection"] == "close"  # the rest of the body is not read
    assert _state(portal_service, visitor.creds.account_id) == before
    anonymous = plain_http.post(
        f"{portal_service.base_url}/portal/endpoints",
        content=b"x" * 100_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert anonymous.status_code == 413


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"url=http%3A%2F%2F127.0.0.1%3A9%2Fhook%FF%FE", 400, "Field 'url' is not UTF-8"),
        (
            b"url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&description=caf\xc3\xa9",
            400,
            "'description' has bytes",
        ),
        (b"url=http%3A%2F%2F127.0.0.1%3A9%2Fhook&events=%C3%28", 400, "'events'"),
    ],
    ids=["bad-escape", "raw-bytes", "bad-sequence"],
)
def test_a_form_that_is_not_utf_8_is_refused_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn, body: bytes, status: int, says: str
) -> None:
    """Starlette reads such bytes as U+FFFD or Latin-1: they were saved as mangled text,
    where the API refuses the body."""
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.http.post(
        "/portal/endpoints",
        content=body + b"&events=producersync&csrf=" + visitor.csrf.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == status, page.text
    assert says in page.text.replace("&#39;", "'")
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_form_sent_as_multipart_is_refused_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.http.post(
        "/portal/endpoints",
        data={"csrf": visitor.csrf, "url": URL, "events": "producersync"},
        files={"description": ("d.txt", "caf\xe9".encode("latin-1"))},
    )
    assert page.status_code == 415, page.text
    assert "application/x-www-form-urlencoded" in page.text
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_form_said_gzipped_is_refused_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Starlette reads no Content-Encoding: a plain form said to be gzipped would be saved."""
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.http.post(
        "/portal/endpoints",
        data={"csrf": visitor.csrf, "url": URL, "events": "producersync"},
        headers={"content-encoding": "gzip"},
    )
    assert page.status_code == 400, page.text
    assert "for header 'Content-Encoding'" in page.text.replace("&#39;", "'")
    assert _state(portal_service, visitor.creds.account_id) == before


@pytest.mark.parametrize(
    ("form", "body", "says"),
    [
        # The CSRF check read the last token: a forged one before it went unnoticed.
        ("/endpoints/{ep}/disable", "csrf=forged&csrf={csrf}", "Field 'csrf' is given more"),
        ("/endpoints/{ep}/delete", "csrf={csrf}&confirm=no&confirm=yes", "'confirm' is given"),
        (
            "/endpoints/{ep}/edit",
            "csrf={csrf}&url=https%3A%2F%2Fa.example&url=https%3A%2F%2Fb.example&events=producersync",
            "Field 'url' is given more than once: 'https://a.example', 'https://b.example'",
        ),
        ("/endpoints/{ep}/rate-limit", "csrf={csrf}&rate_limit=5&rate_limit=abc", "'rate_limit'"),
    ],
    ids=["csrf", "confirm", "url", "rate_limit"],
)
def test_a_field_given_twice_is_refused_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn, form: str, body: str, says: str
) -> None:
    """Starlette keeps a field's last value, so what came before it was never checked."""
    endpoint_id = _create(visitor)
    before = _state(portal_service, visitor.creds.account_id)
    page = visitor.http.post(
        _path(form, endpoint_id, "unused"),
        content=body.format(csrf=visitor.csrf),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert page.status_code == 400, page.text
    assert says in page.text.replace("&#39;", "'") and "Nothing was changed" in page.text
    assert _state(portal_service, visitor.creds.account_id) == before


def test_a_list_field_may_be_given_more_than_once(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    saved = visitor.form(
        f"/portal/endpoints/{endpoint_id}/edit", url=URL, events=[NPN_ACTIVATED, UPDATES_AVAILABLE]
    )
    assert saved.status_code == 303, saved.text
    endpoint = _stored(portal_service, visitor, endpoint_id)
    assert endpoint.event_types == [NPN_ACTIVATED, UPDATES_AVAILABLE]


@pytest.mark.parametrize(
    "path",
    [
        "/portal/endpoints/{ep}/attempts?outcome=everything",
        "/portal/endpoints/{ep}/attempts?before=-1",
        "/portal/endpoints/{ep}/attempts?before=99999999999999999999999",
        "/portal/endpoints/bad%00id",
        "/portal/endpoints/{ep}/messages/x/resend",
        "/portal/endpoints/{ep}/attempts?notice=recovered&queued=%C2%B2",
        "/portal/endpoints/{ep}/testing?type=%00&sent=%3Cb%3E",
    ],
)
def test_odd_addresses_get_a_page_not_a_500(visitor: SignedIn, path: str) -> None:
    endpoint_id = _create(visitor)
    page = visitor.http.get(path.format(ep=endpoint_id))
    assert page.status_code in (200, 400, 404, 405), page.text
    assert "<b>" not in page.text
    assert page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/portal/endpoints/", "/portal/endpoints"),
        ("/portal/endpoints//?notice=deleted", "/portal/endpoints?notice=deleted"),
        ("/portal/endpoints/{ep}/attempts/", "/portal/endpoints/{ep}/attempts"),
        ("/portal/event-types/", "/portal/event-types"),
    ],
)
def test_a_slash_more_is_sent_on_by_path_whatever_the_host_header_says(
    visitor: SignedIn, path: str, location: str
) -> None:
    # Starlette's redirect was to http://elsewhere.example/portal/endpoints: a forged Host
    # (or a proxy passing the client's on) sent the browser to another site.
    endpoint_id = _create(visitor)
    moved = visitor.http.get(path.format(ep=endpoint_id), headers={"host": "elsewhere.example"})
    assert moved.status_code == 307
    assert moved.headers["location"] == location.format(ep=endpoint_id)
    assert visitor.http.get(moved.headers["location"]).status_code == 200


@pytest.mark.parametrize("path", ["/portal/endpoints/{ep}%2Fadvanced", "/portal/endpoints/{ep}%2F"])
def test_an_encoded_slash_is_no_page(visitor: SignedIn, path: str) -> None:
    # Decoded before routing, ep%2Fadvanced was the endpoint's Advanced page.
    endpoint_id = _create(visitor)
    page = visitor.http.get(path.format(ep=endpoint_id))
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    disabled = visitor.form(f"/portal/endpoints/{endpoint_id}%2Fdisable")
    assert disabled.status_code in (404, 405)
    assert "Disable endpoint" in visitor.http.get(f"/portal/endpoints/{endpoint_id}/advanced").text


def test_a_slash_more_on_no_page_is_not_found(visitor: SignedIn) -> None:
    for path in ("/portal/no/such/page/", "/portal//", "/portal/endpoints/new/x/"):
        page = visitor.http.get(path, headers={"host": "elsewhere.example"})
        assert page.status_code == 404, path
        assert "Page not found" in page.text


@pytest.mark.parametrize(
    ("tab", "query", "says"),
    [
        ("attempts", "outcome=everything", "Invalid value 'everything' for parameter 'outcome'"),
        ("attempts", "before=-1", "Invalid value '-1' for parameter 'before'"),
        ("attempts", "before=%FF", "Invalid value '\ufffd' for parameter 'before'"),
        ("attempts", "before=12.0", "Invalid value '12.0' for parameter 'before'"),
        ("attempts", "updates=sometimes", "Invalid value 'sometimes' for parameter 'updates'"),
        ("attempts", "seen=-1", "Invalid value '-1' for parameter 'seen'"),
        ("attempts", "seen=3.0", "Invalid value '3.0' for parameter 'seen'"),
        # A route reads the last value; the API refuses a parameter given twice, and so
        # does the portal.
        (
            "attempts",
            "outcome=failed&outcome=all",
            "Invalid value 'failed, all' for parameter 'outcome'",
        ),
        # The Testing tab showed the default example for a type it does not know.
        ("testing", "type=producersync.bogus", "Invalid value 'producersync.bogus' for parameter"),
    ],
)
def test_a_refused_query_parameter_is_named_with_its_value(
    visitor: SignedIn, tab: str, query: str, says: str
) -> None:
    endpoint_id = _create(visitor)
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/{tab}?{query}")
    assert page.status_code == 400
    assert says in page.text.replace("&#39;", "'")


# --- message attempts -------------------------------------------------------------------


def _rows(page: httpx2.Response) -> list[str]:
    """The response excerpts of the attempts listed, top to bottom."""
    return re.findall(r"<code[^>]*>(answer \d+)</code>", page.text)


def _link(page: httpx2.Response, label: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)">{label}</a>', page.text)
    return found.group(1).replace("&amp;", "&") if found else None


def _older(page: httpx2.Response) -> str | None:
    return _link(page, "Older")


def test_attempts_are_newest_first_filtered_and_paged(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [n % 3 != 0 for n in range(30)])  # 10 failed
    path = f"/portal/endpoints/{endpoint_id}/attempts"

    first = visitor.http.get(path)
    assert _rows(first) == [f"answer {n}" for n in range(29, 9, -1)]
    assert "webhook.test" in first.text and 'hx-trigger="every 2s"' in first.text
    older = _older(first)
    assert older is not None
    second = visitor.http.get(older)
    assert _rows(second) == [f"answer {n}" for n in range(9, -1, -1)]
    assert _older(second) is None and "hx-trigger" not in second.text  # only the newest page

    failed = visitor.http.get(path, params={"outcome": "failed"})
    assert _rows(failed) == [f"answer {n}" for n in range(27, -1, -3)]
    assert _older(failed) is None and "503" in failed.text
    succeeded = visitor.http.get(path, params={"outcome": "succeeded"})
    assert len(_rows(succeeded)) == 20
    rest = visitor.http.get(_older(succeeded) or "")
    assert _rows(succeeded) + _rows(rest) == [f"answer {n}" for n in range(29, -1, -1) if n % 3]


@pytest.mark.parametrize(
    ("outcome", "shown"),
    [(None, range(49, -1, -1)), ("succeeded", range(48, -1, -2))],
)
def test_newer_goes_back_up_the_attempts_a_page_at_a_time(
    portal_service: RunningService, visitor: SignedIn, outcome: str | None, shown: range
) -> None:
    """The pager had Older and Newest only: the page above the third was two clicks away,
    through the newest."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [n % 2 == 0 for n in range(50)])
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    newest = path + (f"?outcome={outcome}" if outcome else "")
    pages = [visitor.http.get(newest)]
    while (older := _older(pages[-1])) is not None:
        pages.append(visitor.http.get(older))
    assert [row for page in pages for row in _rows(page)] == [f"answer {n}" for n in shown]
    assert _link(pages[0], "Newer") is None and _link(pages[0], "Newest") is None

    for above, page in itertools.pairwise(pages):
        assert _link(page, "Newest") == newest
        newer = visitor.http.get(_link(page, "Newer") or "")
        assert _rows(newer) == _rows(above)
        assert _older(newer) == _older(above)
    # The page above the second is the newest, which refreshes itself.
    assert _link(pages[1], "Newer") == newest

    # From an attempt the endpoint does not have (an address made by hand): none such.
    beyond = visitor.http.get(path, params={"before": 2**40, "outcome": outcome or "all"})
    assert beyond.status_code == 404
    assert f"Attempt {2**40} is not an attempt of this endpoint&#39;s list" in beyond.text


@pytest.mark.parametrize(
    ("outcome", "shown"),
    [(None, range(99, -1, -1)), ("failed", range(98, -1, -2))],
)
def test_oldest_leads_to_the_first_attempts_from_any_page_but_the_last_two(
    portal_service: RunningService, visitor: SignedIn, outcome: str | None, shown: range
) -> None:
    """The first attempts of thousands were reached only by pressing Older page after
    page (a hundred pages for 2,000 attempts)."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [n % 2 == 1 for n in range(100)])
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    pages = [visitor.http.get(path, params={"outcome": outcome} if outcome else None)]
    while (older := _older(pages[-1])) is not None:
        pages.append(visitor.http.get(older))
    oldest = [f"answer {n}" for n in shown][-20:]
    # From each page with two or more below it; on the last but one, Older is the last.
    for page in pages[:-2]:
        last = visitor.http.get(_link(page, "Oldest") or "")
        assert _rows(last) == oldest
        assert _older(last) is None and _link(last, "Oldest") is None
        assert _link(last, "Newest") is not None and _link(last, "Newer") is not None
    assert [_link(page, "Oldest") for page in pages[-2:]] == [None, None]
    # Up from the oldest page, Newer reads back to the newest.
    page = visitor.http.get(_link(pages[0], "Oldest") or "")
    seen = _rows(page)
    while (newer := _link(page, "Newer")) is not None:
        page = visitor.http.get(newer)
        seen = [row for row in _rows(page) if row not in seen] + seen
    assert seen == [f"answer {n}" for n in shown]


@pytest.mark.parametrize(
    ("query", "said", "last"),
    [
        ({}, "No attempts are older", 0),
        ({"outcome": "failed"}, "No failed attempts are older", 1),
        ({"type": "webhook.test"}, "No attempts that match these filters are older", 0),
    ],
)
def test_a_page_past_the_last_says_so_and_leads_back_up(
    portal_service: RunningService,
    visitor: SignedIn,
    query: dict[str, str],
    said: str,
    last: int,
) -> None:
    """Named by the oldest attempt (an address kept, or made by hand), the page said "No
    attempts yet. Send one from the Testing tab." of an endpoint with 30."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [n % 2 == 0 for n in range(30)])
    with portal_service.engine.connect() as conn:
        (first,) = outbox.list_attempts(conn, endpoint_id=endpoint_id, oldest=True, limit=1)
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    page = visitor.http.get(path, params={**query, "before": first.id})
    assert page.status_code == 200 and _rows(page) == []
    assert said in page.text and "yet" not in page.text and "Send one" not in page.text
    assert _rows(visitor.http.get(_link(page, "Newer") or ""))[-1] == f"answer {last}"


def test_a_paused_page_stays_paused_through_its_pager(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Newest and Newer dropped ``updates=paused``: back at the newest page, what the
    visitor had stopped (WCAG 2.2.2) refreshed by itself again."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [True] * 25)
    paused = visitor.http.get(
        f"/portal/endpoints/{endpoint_id}/attempts", params={"updates": "paused"}
    )
    older = visitor.http.get(_older(paused) or "")
    for label in ("Newest", "Newer"):
        back = visitor.http.get(_link(older, label) or "")
        assert back.status_code == 200 and _rows(back) == _rows(paused), label
        assert "Resume updates" in back.text and "hx-trigger" not in back.text, label


_ROW = re.compile(r'<tr class="(?:succeeded|failed)">')
_MINUTE = "%Y-%m-%dT%H:%M"


def test_attempts_are_filtered_by_type_and_time_and_every_link_keeps_the_filters(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """ "Did we get yesterday's updates_available?": its attempts of yesterday, of the
    type, through the pager, the outcome links, the pause and the refresh alike."""
    endpoint_id = _create(visitor)
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/testing", type=UPDATES_AVAILABLE)
    assert sent.status_code == 303, sent.text
    yesterday = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(days=1)
    log_attempts(
        portal_service.engine,
        endpoint_id,
        [n % 2 == 0 for n in range(30)],
        event_type=UPDATES_AVAILABLE,
        start=yesterday,
    )
    # Of the type but a day earlier, and of another type in the window: neither shown.
    log_attempts(
        portal_service.engine,
        endpoint_id,
        [True] * 3,
        "too early",
        event_type=UPDATES_AVAILABLE,
        start=yesterday - dt.timedelta(days=1),
    )
    log_attempts(portal_service.engine, endpoint_id, [False] * 3, "a test", start=yesterday)
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    window = {
        "since": (yesterday - dt.timedelta(hours=1)).strftime(_MINUTE),
        "until": (yesterday + dt.timedelta(hours=1)).strftime(_MINUTE),
    }
    kept = {"type": UPDATES_AVAILABLE, **window, "updates": "paused"}

    def keeps_filters(address: str | None, **also: str) -> str:
        assert address is not None
        given = httpx2.URL(address).params
        for name, value in {**kept, **also}.items():
            assert given.get(name) == value, (name, address)
        return address

    first = visitor.http.get(
        path, params={"type": UPDATES_AVAILABLE, **window, "updates": "paused"}
    )
    assert first.status_code == 200, first.text
    assert _rows(first) == [f"answer {n}" for n in range(29, 9, -1)]
    assert "too early" not in first.text and "a test" not in first.text
    second = visitor.http.get(keeps_filters(_older(first)))
    assert _rows(second) == [f"answer {n}" for n in range(9, -1, -1)]
    for label in ("Newest", "Newer"):
        back = visitor.http.get(keeps_filters(_link(second, label)))
        assert _rows(back) == _rows(first), label
    failed = re.search(r'<a href="([^"]+)"[^>]*>Failed</a>', first.text)
    assert failed
    only_failed = visitor.http.get(keeps_filters(failed[1].replace("&amp;", "&"), outcome="failed"))
    assert _rows(only_failed) == [f"answer {n}" for n in range(29, 0, -2)]
    resume = re.search(r'<a href="([^"]+)">Resume updates</a>', first.text)
    assert resume
    live = visitor.http.get(resume[1].replace("&amp;", "&"))
    refresh = re.search(r'hx-get="([^"]+)"', live.text)
    assert refresh and _rows(live) == _rows(first)
    kept.pop("updates")
    keeps_filters(refresh[1].replace("&amp;", "&"))
    # The form shows the filters as given, to change them.
    assert f'value="{window["since"]}"' in first.text
    assert re.search(rf'value="{re.escape(UPDATES_AVAILABLE)}" checked', first.text)

    # Several types: a checkbox each, so the parameter comes once per type ticked.
    both = visitor.http.get(
        path, params=[("type", UPDATES_AVAILABLE), ("type", ENDPOINT_TEST), *window.items()]
    )
    assert both.status_code == 200, both.text
    assert len(_ROW.findall(both.text)) == 20 and _older(both) is not None
    none = visitor.http.get(path, params={"type": NPN_DEACTIVATED})
    assert "No attempts match these filters." in none.text


@pytest.mark.parametrize(
    ("query", "field", "says"),
    [
        ({"since": "yesterday"}, "filter-since", "'yesterday' is not an ISO 8601 time"),
        ({"until": "2026-13-01T00:00"}, "filter-until", "'2026-13-01T00:00' is not an ISO 8601"),
        # Before year 1 in UTC: no time the store can compare.
        ({"since": "0001-01-01T00:00+01:00"}, "filter-since", "'0001-01-01T00:00+01:00' is not"),
        (
            {"since": "2026-06-02T00:00", "until": "2026-06-01T00:00"},
            "filter-until",
            "'2026-06-01T00:00' must be later than since (2026-06-02T00:00:00Z)",
        ),
        (
            {"type": "producersync.bogus"},
            "filter-type",
            "'producersync.bogus' is no event type; choose among",
        ),
    ],
)
def test_a_filter_that_cannot_be_read_is_said_beside_its_field(
    portal_service: RunningService,
    visitor: SignedIn,
    query: dict[str, str],
    field: str,
    says: str,
) -> None:
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [True])
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts", params=query)
    assert page.status_code == 400
    assert _error(page).startswith(says)
    assert f'id="{field}-error"' in page.text and f'href="#{field}"' in page.text
    # No list (not the unfiltered one, to be taken for the answer), and nothing refreshes.
    assert not _ROW.findall(page.text) and "hx-trigger" not in page.text
    assert "correct the filter above" in page.text


_NEWS = re.compile(r'<p id="attempts-news" [^>]*>([^<]*)</p>')


def test_the_refresh_says_what_it_brought_and_can_be_paused(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [True, False, True])
    path = f"/portal/endpoints/{endpoint_id}/attempts"

    def news(**params: str | int) -> str:
        page = visitor.http.get(path, params=params)
        assert page.status_code == 200, page.text
        found = _NEWS.search(page.text)
        assert found, "the page has no live region for news"
        return found.group(1)

    page = visitor.http.get(path)
    asks = re.search(r'hx-get="[^"]*[?;]seen=(\d+)"', page.text)
    assert asks, "the refresh does not say what it has seen"
    newest = int(asks.group(1))
    assert news() == ""  # a page as loaded says nothing: it is all there to read
    assert news(seen=newest) == ""  # nothing new: a refresh stays quiet
    assert news(seen=newest - 1) == "1 new attempt: webhook.test, 200, succeeded."
    assert news(seen=newest - 2) == "2 new attempts; newest: webhook.test, 200, succeeded."
    failed = "1 new attempt: webhook.test, 503, failed."
    assert news(seen=newest - 2, outcome="failed") == failed  # of those the page shows
    assert news(seen=newest - 1, outcome="failed") == ""

    paused = visitor.http.get(path, params={"updates": "paused"})
    assert "hx-trigger" not in paused.text and "Resume updates" in paused.text
    assert "updates=paused" in re.search(r'<a href="([^"]+)"[^>]*>Failed</a>', paused.text)[1]
    assert "Pause updates" in page.text
    assert visitor.http.get(path, params={"updates": "stopped"}).status_code == 400


def test_recover_selects_by_the_messages_time_not_a_replays(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A replay to an endpoint that never had the message creates its delivery then; Recover
    filtered on that time, so a message of 10 days ago, replayed and failed, was recovered
    "since yesterday"."""
    old, replayed_to = _create(visitor), _create(visitor)
    event = NpnActivated.create("15645555")
    with write_transaction(portal_service.engine) as conn:
        message = outbox.Message(event.id, visitor.creds.account_id, event.type, event.to_json())
        ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
        outbox.publish(conn, [message], endpoint_id=old, now=ten_days_ago)
    resent = visitor.form(f"/portal/endpoints/{replayed_to}/messages/{event.id}/resend")
    assert resent.status_code == 303, resent.text
    with write_transaction(portal_service.engine) as conn:  # its manual attempt failed
        conn.execute(
            webhook_deliveries.update()
            .where(
                webhook_deliveries.c.endpoint_id == replayed_to,
                webhook_deliveries.c.message_id == event.id,
            )
            .values(state="failed", manual=False, next_attempt_at=None)
        )

    def recover(days: int) -> str:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        path = f"/portal/endpoints/{replayed_to}/recover"
        answer = visitor.form(path, since=since.strftime("%Y-%m-%dT%H:%M"))
        assert answer.status_code == 303, answer.text
        return answer.headers["location"].split("queued=")[1]

    assert recover(days=1) == "0"
    assert recover(days=11) == "1"


def _acting_from(
    visitor: SignedIn, endpoint_id: str, view: str, since: str | None = None
) -> list[httpx2.Response]:
    """Resend of the endpoint's test message and Recover, each sent from ``view``."""
    path = f"/portal/endpoints/{endpoint_id}"
    message_id = _message_of(visitor, endpoint_id)
    since = since or (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime(_MINUTE)
    return [
        visitor.form(f"{path}/messages/{message_id}/resend", view=view),
        visitor.form(f"{path}/recover", since=since, view=view),
    ]


def _message_of(visitor: SignedIn, endpoint_id: str) -> str:
    """The message of the newest attempt listed for the endpoint."""
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts")
    found = re.search(rf"/portal/endpoints/{endpoint_id}/messages/([^/]+)/resend", page.text)
    assert found, page.text
    return found.group(1)


def test_resend_and_recover_come_back_to_the_view_they_were_sent_from(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Both led to the plain newest page: the outcome, the types and times, the page and
    a paused refresh the visitor had were gone."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False, True] * 25)
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime(_MINUTE)
    first = visitor.http.get(
        path,
        params={"outcome": "failed", "type": ENDPOINT_TEST, "since": since, "updates": "paused"},
    )
    older = _older(first)
    assert older is not None
    for address in (f"{path}?{httpx2.URL(str(first.url)).query.decode()}", older):
        page = visitor.http.get(address)
        view = html.unescape(_hidden(page, "view"))
        assert f"{path}?{view}" == address  # the page's own address
        resent, recovered = _acting_from(visitor, endpoint_id, view)
        for answer, notice in ((resent, "notice=resent"), (recovered, "notice=recovered")):
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"].startswith(f"{address}&{notice}")
            back = visitor.http.get(answer.headers["location"])
            assert back.status_code == 200 and _rows(back) == _rows(page), address
            assert 'class="notice"' in back.text and "hx-trigger" not in back.text
            assert ("Resume updates" in back.text) == (address != older)  # still paused

    # Refused, Recover is drawn again on the view it was sent from.
    view = html.unescape(_hidden(visitor.http.get(older), "view"))
    refused = _acting_from(visitor, endpoint_id, view, since="yesterday")[1]
    assert refused.status_code == 400 and "is not an ISO 8601 time" in _error(refused)
    assert _rows(refused) == _rows(visitor.http.get(older))
    assert html.unescape(_hidden(refused, "view")) == view


def test_a_view_that_is_not_one_of_the_list_comes_back_to_the_plain_list(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """The way back is built from the list's own parameters, checked as its page checks
    them: no form leads to another path or host, and one the page cannot have had leads
    to the plain list, the action done, never to an error page."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False])
    sibling = _create(visitor, "http://127.0.0.1:9/sibling")
    log_attempts(portal_service.engine, sibling, [False])
    (theirs,) = _attempt_ids(portal_service, sibling)
    plain = f"/portal/endpoints/{endpoint_id}/attempts?notice="
    for view in [
        "https://evil.example/x",
        "//evil.example/x",
        "/portal/endpoints",
        "outcome=failed&next=https://evil.example/",
        "notice=deleted",
        "seen=1",
        "outcome=bogus",
        "outcome=failed&outcome=all",
        "updates=stopped",
        "type=producersync.bogus",
        "since=yesterday",
        "since=2026-06-02T00:00&until=2026-06-01T00:00",
        "before=abc",
        "before=0",
        f"before={2**63}",
        f"before={theirs}",
        "before=" + "9" * 5000,
        "%FF",
        "outcome",
        "type=" + "&type=".join([ENDPOINT_TEST] * 100),
    ]:
        for answer in _acting_from(visitor, endpoint_id, view):
            assert answer.status_code == 303, (view, answer.text)
            assert answer.headers["location"].startswith(plain), view
            assert visitor.http.get(answer.headers["location"]).status_code == 200, view


@pytest.mark.parametrize("spelled", ["+{}", " {} ", "{:0>25}"], ids=["sign", "blanks", "zeros"])
def test_a_view_is_read_as_its_page_reads_it(
    portal_service: RunningService, visitor: SignedIn, spelled: str
) -> None:
    """A cursor the page takes, as the API does (a sign, blanks, leading zeros), the
    view a form carries takes too: a check of its own led such a view to the plain list."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False] * 30)
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    older = _older(visitor.http.get(path))
    assert older is not None
    cursor = httpx2.URL(older).params["before"]
    view = f"outcome=failed&before={spelled.format(cursor)}"
    page = visitor.http.get(path, params={"outcome": "failed", "before": spelled.format(cursor)})
    assert page.status_code == 200 and _rows(page) == _rows(visitor.http.get(older)), page.text
    for answer in _acting_from(visitor, endpoint_id, view):
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"].startswith(f"{path}?outcome=failed&before={cursor}&")


def test_an_attempt_opened_from_a_view_leads_back_to_it(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Details, then Back to Message Attempts or Resend, led to the plain newest page:
    the outcome, types and times, the page and a pause the visitor had were gone."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False, True] * 25)
    path = f"/portal/endpoints/{endpoint_id}/attempts"
    first = visitor.http.get(path, params={"outcome": "failed", "updates": "paused"})
    address = _older(first)
    assert address is not None
    listed = visitor.http.get(address)
    details = re.search(r'href="([^"]+)">Details', listed.text)
    assert details, listed.text
    page = visitor.http.get(html.unescape(details.group(1)))
    assert page.status_code == 200, page.text
    assert _link(page, "Back to Message Attempts") == address
    view = html.unescape(_hidden(page, "view"))
    assert f"{path}?{view}" == address
    message_id = re.search(r"/messages/([^/]+)/resend", page.text)
    assert message_id, page.text
    resent = visitor.form(
        f"/portal/endpoints/{endpoint_id}/messages/{message_id[1]}/resend", view=view
    )
    assert resent.headers["location"].startswith(f"{address}&notice=resent")

    # A view the list cannot have had leads back to the plain list, as a form's does.
    odd = visitor.http.get(html.unescape(details.group(1)).split("?")[0], params={"view": "x=1"})
    assert odd.status_code == 200 and _link(odd, "Back to Message Attempts") == path


def _attempt_ids(service: RunningService, endpoint_id: str) -> list[int]:
    with service.engine.connect() as conn:
        return [a.id for a in outbox.list_attempts(conn, endpoint_id=endpoint_id)]


def test_an_attempt_shows_the_whole_response_escaped(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """The table shows the start of a response; the attempt's own page, linked from its
    row, all of it (a hover title was the only way to more of it, and only 500
    characters)."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False], response=HOSTILE_BODY)
    (attempt_id,) = _attempt_ids(portal_service, endpoint_id)
    detail = f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}"

    table = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts")
    assert f'href="{detail}"' in table.text
    assert "<code title=" not in table.text  # the old hover-only excerpt
    assert "END-OF-BODY" not in table.text
    assert "&lt;script&gt;alert(&#34;body&#34;)" in table.text

    page = visitor.http.get(detail)
    assert page.status_code == 200, page.text
    assert str(markupsafe.escape(HOSTILE_BODY)) in page.text
    assert "<script>alert" not in page.text and "<img" not in page.text
    for fact in ("503", "Failed", "10 ms", "scheduled", "webhook.test"):
        assert fact in page.text
    # Within the tab, not the tab's own page.
    assert 'aria-current="true">Message Attempts</a>' in page.text
    assert 'aria-current="page">Message Attempts</a>' in table.text


def test_an_attempt_shows_its_messages_payload_and_its_other_attempts(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An attempt's page showed what the receiver answered, never what was sent to it,
    nor the message's other attempts: a Svix user reads both on a message's page."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False, False, True])
    third, second, first = _attempt_ids(portal_service, endpoint_id)  # newest first
    with portal_service.engine.connect() as conn:
        (message,) = outbox.list_messages(conn, visitor.creds.account_id, limit=10)
    view = "outcome=failed&updates=paused"
    page = visitor.http.get(
        f"/portal/endpoints/{endpoint_id}/attempts/{second}", params={"view": view}
    )
    assert page.status_code == 200, page.text

    assert f'<a href="/portal/messages/{message.id}">' in page.text
    payload = page.text.split('id="payload-title"')[1].split("</section>")[0]
    sent = orjson.dumps(orjson.loads(message.payload), option=orjson.OPT_INDENT_2).decode()
    assert str(markupsafe.escape(sent)) in payload
    history = page.text.split('id="history-title"')[1].split("</section>")[0]
    rows = re.findall(r"<tr class=\"(\w+)\">(.*?)</tr>", history, re.S)
    assert [outcome for outcome, _ in rows] == ["succeeded", "failed", "failed"]
    # Each other attempt links to its own page on the same view; this one is marked.
    for attempt_id, (_, row) in zip((third, first), (rows[0], rows[2]), strict=True):
        address = f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}?view="
        assert html.escape(address, quote=True) in row, row
        assert "outcome%3Dfailed%26updates%3Dpaused" in row
    assert 'aria-current="page">Attempt 2 (this one)' in rows[1][1]
    for fact in ("200", "503", "10 ms", "11 ms", "12 ms", "scheduled"):
        assert fact in history


def test_an_attempts_page_says_when_its_delivery_is_next_attempted_as_it_is_now(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An attempt's page showed, as Next attempt, the retry it planned when it failed, as
    it was then: an hour ahead of a delivery a Resend had since made succeed, long past on
    one its endpoint, disabled, held, and on every earlier attempt, each next one made."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False, False])
    second, first = _attempt_ids(portal_service, endpoint_id)
    planned = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_attempts.update()
            .where(webhook_attempts.c.endpoint_id == endpoint_id)
            .values(next_attempt_at=planned)
        )

    def facts(attempt_id: int, **delivery: object) -> str:
        _set_deliveries(portal_service, endpoint_id, attempts=2, **delivery)
        page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}")
        assert page.status_code == 200, page.text
        found = re.search(r'<dl class="facts">(.*?)</dl>', page.text, re.S)
        assert found, page.text
        return _words(found[1])

    when = planned.strftime("%Y-%m-%d %H:%M:%S UTC")
    retried = facts(second, state=outbox.PENDING, next_attempt_at=planned)
    assert f"Delivery Pending (2 attempts) Next attempt {when}" in retried
    earlier = facts(first)
    assert "this is not its latest attempt" in earlier and "Next attempt" not in earlier
    resent = facts(second, state=outbox.SUCCEEDED, next_attempt_at=None)
    assert "Delivery Succeeded (2 attempts) Next attempt None" in resent and when not in resent
    assert visitor.form(f"/portal/endpoints/{endpoint_id}/disable").status_code == 303
    held = facts(second, state=outbox.PENDING, next_attempt_at=planned)
    assert "Next attempt When the endpoint is enabled" in held and when not in held


def _facts(service: RunningService, visitor: SignedIn, endpoint_id: str, attempt_id: int) -> str:
    """The words of an attempt's facts on its page."""
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}")
    assert page.status_code == 200, page.text
    found = re.search(r'<dl class="facts">(.*?)</dl>', page.text, re.S)
    assert found, page.text
    return _words(found[1])


def _table_rows(visitor: SignedIn, path: str, section: str = "") -> list[str]:
    """The words of each row of a page's table (of the section whose heading has that
    id, if one is named)."""
    page = visitor.http.get(path)
    assert page.status_code == 200, page.text
    text = page.text.split(f'id="{section}"')[1].split("</section>")[0] if section else page.text
    return [_words(row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", text, re.S)[1:]]


def test_an_attempt_says_the_url_it_was_sent_to_not_the_endpoints_now(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Its page said only the endpoint's URL, in the heading: once the URL was edited,
    the attempts made before read as sent to the new one, which misled whoever was
    following a receiver that moved. One made before attempts kept their URL says it is
    not known, not the endpoint's URL now."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False])
    moved = URL + "/moved"
    edited = visitor.form(
        f"/portal/endpoints/{endpoint_id}/edit", url=moved, events=["producersync"]
    )
    assert edited.status_code == 303, edited.text
    half_an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    log_attempts(portal_service.engine, endpoint_id, [True], start=half_an_hour_ago)
    newest, oldest = _attempt_ids(portal_service, endpoint_id)

    assert f"Sent to {URL} (not the endpoint's URL now)" in _facts(
        portal_service, visitor, endpoint_id, oldest
    )
    now = _facts(portal_service, visitor, endpoint_id, newest)
    assert f"Sent to {moved}" in now and "not the endpoint's URL now" not in now
    # Each list says it on the row that went elsewhere alone.
    listed = _table_rows(visitor, f"/portal/endpoints/{endpoint_id}/attempts")
    history = _table_rows(
        visitor, f"/portal/endpoints/{endpoint_id}/attempts/{newest}", "history-title"
    )
    for rows in (listed, history):
        assert [f"Sent to {URL}" in row for row in rows] == [False, True], rows

    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_attempts.update().where(webhook_attempts.c.id == oldest).values(url=None)
        )
    unknown = _facts(portal_service, visitor, endpoint_id, oldest)
    assert "Sent to Not recorded (attempts made before ProducerSync kept their URL)" in unknown
    assert URL not in unknown
    listed = _table_rows(visitor, f"/portal/endpoints/{endpoint_id}/attempts")
    assert not any("Sent to" in row for row in listed), listed


@pytest.mark.parametrize(
    ("why", "said"),
    [
        (outbox.HELD_RATE_LIMIT, "Waiting: the endpoint's rate limit (5 a second) was reached"),
        (
            outbox.HELD_ONE_AT_A_TIME,
            "Waiting: an attempt to the endpoint timed out, and until one answers in time it "
            "gets one at a time",
        ),
    ],
    ids=["rate-limit", "one-at-a-time"],
)
def test_a_delivery_a_sender_put_back_unsent_says_why_it_waits_and_until_when(
    portal_service: RunningService, visitor: SignedIn, why: str, said: str
) -> None:
    """Put back unsent, its due time is neither a claim's lease nor one an attempt planned:
    it read Sending now, for as long as it waited (a minute, after a timeout), on the
    attempt's page, the list and the message's page."""
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(minutes=1)
    told = f"{said}; next attempt {due.strftime('%Y-%m-%d %H:%M:%S UTC')}"
    endpoint_id = _create(visitor, URL + "/held")
    limited = endpoints.EndpointChanges(rate_limit_per_second=5)
    with write_transaction(portal_service.engine) as conn:
        endpoints.update_endpoint(conn, visitor.creds.account_id, endpoint_id, limited)
    planned = due - dt.timedelta(minutes=5)  # due, and claimed since
    log_attempts(portal_service.engine, endpoint_id, [False], planned=planned)
    (attempt_id,) = _attempt_ids(portal_service, endpoint_id)
    _set_deliveries(
        portal_service,
        endpoint_id,
        state=outbox.PENDING,
        next_attempt_at=due,
        held_until=due,
        held_for=why,
    )
    facts = html.unescape(_facts(portal_service, visitor, endpoint_id, attempt_id))
    assert f"Next attempt {told}" in facts and "Sending now" not in facts
    [row] = _table_rows(visitor, f"/portal/endpoints/{endpoint_id}/attempts")
    assert f"Next attempt: {told}" in html.unescape(row)
    with portal_service.engine.connect() as conn:
        [delivery] = outbox.list_deliveries(conn, endpoint_id=endpoint_id)
    path = f"/portal/messages/{delivery.message_id}"
    [first] = _table_rows(visitor, path, "deliveries-title")
    assert told in html.unescape(first)
    # Claimed since, its due time the claim's lease: it is being sent.
    _set_deliveries(portal_service, endpoint_id, next_attempt_at=due + dt.timedelta(seconds=1))
    assert "Next attempt Sending now" in _facts(portal_service, visitor, endpoint_id, attempt_id)


def test_a_delivery_being_sent_says_so_not_when_its_claim_ends(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """A delivery a sender has in hand is due again when its claim's lease ends, ~30 s
    ahead, in case the sender dies: that time was shown as its next attempt, as if it
    waited for a retry. Told from one by its latest attempt's plan, it is Sending now,
    on the attempt's page, the list and the message's page, and on a first attempt too."""
    lease_end = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=30)
    shown = lease_end.strftime("%Y-%m-%d %H:%M:%S UTC")
    fresh = _create(visitor)
    _set_deliveries(portal_service, fresh, state=outbox.PENDING, next_attempt_at=lease_end)
    with portal_service.engine.connect() as conn:
        [delivery] = outbox.list_deliveries(conn, endpoint_id=fresh)
    [first] = _table_rows(visitor, f"/portal/messages/{delivery.message_id}", "deliveries-title")
    assert "Sending now" in first and shown not in first

    retried = _create(visitor, URL + "/retried")
    planned = lease_end - dt.timedelta(minutes=5)  # due, and claimed since
    log_attempts(portal_service.engine, retried, [False], planned=planned)
    (attempt_id,) = _attempt_ids(portal_service, retried)
    _set_deliveries(portal_service, retried, state=outbox.PENDING, next_attempt_at=lease_end)
    facts = _facts(portal_service, visitor, retried, attempt_id)
    assert "Next attempt Sending now" in facts and shown not in facts
    [row] = _table_rows(visitor, f"/portal/endpoints/{retried}/attempts")
    assert "Next attempt: Sending now" in row and shown not in row
    # Waiting for the retry its attempt planned, it says when.
    _set_deliveries(portal_service, retried, next_attempt_at=lease_end + dt.timedelta(hours=1))
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_attempts.update()
            .where(webhook_attempts.c.id == attempt_id)
            .values(next_attempt_at=lease_end + dt.timedelta(hours=1))
        )
    later = (lease_end + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Next attempt {later}" in _facts(portal_service, visitor, retried, attempt_id)


def test_a_failed_attempt_in_the_list_says_whether_its_message_is_retried_and_when(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Under Failed, a message still being retried and one that failed for good (which
    Recover alone sends again) were two alike rows: the list said neither whether nor
    when its next attempt was, each attempt's page to open in turn to find out."""
    planned = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=1)

    def rows(endpoint_id: str, **delivery: object) -> list[str]:
        """The list's rows, newest first, once the endpoint's delivery is as given."""
        _set_deliveries(portal_service, endpoint_id, attempts=2, **delivery)
        page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts")
        assert page.status_code == 200, page.text
        found = re.findall(r'<tr class="\w+">(.*?)</tr>', page.text, re.S)
        return [_words(row) for row in found]

    failing = _create(visitor)
    log_attempts(portal_service.engine, failing, [False, False], planned=planned)
    second, first = rows(failing, state=outbox.PENDING, next_attempt_at=planned)
    assert f"Next attempt: {planned.strftime('%Y-%m-%d %H:%M:%S UTC')}" in second
    assert "Next attempt" not in first  # made since: the second
    second, first = rows(failing, state=outbox.FAILED, next_attempt_at=None)
    assert "Next attempt: None" in second and "Next attempt" not in first

    # A message sent, with nothing more to send, says nothing of a next attempt.
    recovered = _create(visitor, URL + "/recovered")
    log_attempts(portal_service.engine, recovered, [False, True])
    done = rows(recovered, state=outbox.SUCCEEDED, next_attempt_at=None)
    assert len(done) == 2 and not any("Next attempt" in row for row in done)


def test_every_attempt_of_a_message_is_reached_from_an_attempt_page(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """An attempt's page listed the message's 20 newest attempts to the endpoint, no
    more: a message resent often had its first ones out of the page's reach."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False] * 22 + [True])
    ids = _attempt_ids(portal_service, endpoint_id)  # newest first
    path = f"/portal/endpoints/{endpoint_id}/attempts/{ids[0]}"
    view = "outcome=failed"
    page = visitor.http.get(path, params={"view": view})
    history = page.text.split('id="history-title"')[1].split("</section>")[0]
    assert len(re.findall(r"<tr class=", history)) == 20
    older = _link(page, "Older")
    # On the view the page is on, opened at the list.
    assert older == f"{path}?view=outcome%3Dfailed&history_before={ids[19]}#history-title"

    last = visitor.http.get(older)
    assert last.status_code == 200, last.text
    history = last.text.split('id="history-title"')[1].split("</section>")[0]
    assert len(re.findall(r"<tr class=", history)) == 3
    # The first attempt's link keeps the list on this page, as Newest leaves it.
    first = f"/portal/endpoints/{endpoint_id}/attempts/{ids[-1]}?view=outcome%3Dfailed&amp;"
    assert f'{first}history_before={ids[19]}">Attempt 1</a>' in history
    newest = f"{path}?view=outcome%3Dfailed&history_before=newest#history-title"
    assert _link(last, "Newest") == newest

    other = _create(visitor, URL + "/other")
    log_attempts(portal_service.engine, other, [True])
    (theirs,) = _attempt_ids(portal_service, other)
    foreign = visitor.http.get(path, params={"history_before": theirs})
    assert foreign.status_code == 404, foreign.text
    assert "(parameter &#39;history_before&#39;)" in foreign.text
    refused = visitor.http.get(path, params={"history_before": "soon"})
    assert refused.status_code == 400 and "&#39;history_before&#39;" in refused.text
    past = visitor.http.get(path, params={"history_before": ids[-1]})
    assert "No attempts of this message to this endpoint are older" in past.text


def _history(page: httpx2.Response, attempt_id: int) -> list[int]:
    """The ids of the attempts an attempt's page lists in its history, top to bottom:
    each linked to its own page, the page's own (``attempt_id``) marked instead."""
    assert page.status_code == 200, page.text
    history = page.text.split('id="history-title"')[1].split("</section>")[0]
    listed = []
    for row in re.findall(r'<tr class="\w+">(.*?)</tr>', history, re.S):
        linked = re.search(r'/attempts/([0-9]+)[?"]', row)
        assert linked or 'aria-current="page"' in row, row
        listed.append(int(linked.group(1)) if linked else attempt_id)
    return listed


def test_an_attempts_page_opens_its_history_at_the_page_that_holds_it(
    each_portal: RunningService,
) -> None:
    """Opened from its Details link, an attempt's page showed the message's 20 newest
    attempts: an old attempt of a message resent often was not on it, and Older had to
    be pressed to find where it stood."""
    visitor = sign_in(each_portal, each_portal.account())
    try:
        endpoint_id = _create(visitor)
        log_attempts(each_portal.engine, endpoint_id, [False] * 64 + [True])
        ids = _attempt_ids(each_portal, endpoint_id)  # newest first: 20, 20, 20 and 5
        base = f"/portal/endpoints/{endpoint_id}/attempts"

        def opened(position: int, **params: str) -> httpx2.Response:
            return visitor.http.get(f"{base}/{ids[position]}", params=params)

        # Each opens at its page, counted from the newest as Older walks down.
        for position in (0, 19, 20, 39, 40, 64):
            start = position // 20 * 20
            assert _history(opened(position), ids[position]) == ids[start : start + 20]

        path = f"{base}/{ids[50]}"
        view = "outcome=failed"
        with each_portal.statements() as found:
            page = opened(50, view=view)
        assert 'aria-current="page">Attempt 15 (this one)' in page.text
        on = f"{path}?view=outcome%3Dfailed&history_before="
        assert _link(page, "Newest") == f"{on}newest#history-title"
        assert _link(page, "Newer") == f"{on}{ids[19]}#history-title"
        assert _link(page, "Older") == f"{on}{ids[59]}#history-title"
        assert _link(page, "Oldest") is None  # Older leads to the last page
        # One statement finds the page: as many more as the same page named.
        with each_portal.statements() as named:
            opened(50, view=view, history_before=str(ids[39]))
        assert len(found) == len(named) + 1

        for label, shown in (("Newest", ids[:20]), ("Newer", ids[20:40]), ("Older", ids[60:])):
            address = _link(page, label)
            assert address is not None
            assert _history(visitor.http.get(address), ids[50]) == shown, label
        # Another attempt's link keeps the page looked at, the newest one too by its name.
        other = f"{base}/{ids[45]}?view=outcome%3Dfailed&amp;history_before={ids[39]}"
        assert f'href="{other}"' in page.text
        assert _history(opened(45, history_before=str(ids[39])), ids[45]) == ids[40:60]
        newest = visitor.http.get(_link(page, "Newest") or "")
        assert f"{base}/{ids[3]}?view=outcome%3Dfailed&amp;history_before=newest" in newest.text

        # The newest attempt opens the newest page, with no way newer.
        first = opened(0, view=view)
        assert 'aria-current="page">Attempt 65 (this one)' in first.text
        assert _link(first, "Newest") is None and _link(first, "Newer") is None
        older = f"{base}/{ids[0]}?view=outcome%3Dfailed&history_before={ids[19]}#history-title"
        assert _link(first, "Older") == older
        refused = opened(50, history_before="latest")
        assert refused.status_code == 400, refused.text
        assert "&#39;history_before&#39;: expected &#39;newest&#39; or" in refused.text
    finally:
        visitor.http.close()


@pytest.mark.parametrize(
    ("status_code", "response", "says"),
    [
        (0, None, "There was no response."),
        (204, None, "The receiver answered with an empty body."),
    ],
)
def test_an_attempt_without_a_body_says_why(
    portal_service: RunningService,
    visitor: SignedIn,
    status_code: int,
    response: str | None,
    says: str,
) -> None:
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [status_code == 204])
    (attempt_id,) = _attempt_ids(portal_service, endpoint_id)
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_attempts.update()
            .where(webhook_attempts.c.id == attempt_id)
            .values(status_code=status_code, response=response)
        )
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}")
    assert page.status_code == 200 and says in page.text


def test_an_attempt_not_made_says_why_and_is_left_out_of_the_success_rate(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor, "http://127.0.0.1:9/not-sent")
    log_attempts(portal_service.engine, endpoint_id, [True, False])
    attempt_id, _ = _attempt_ids(portal_service, endpoint_id)  # newest first
    why = f"{outbox.UNSUBSCRIBED} {ENDPOINT_TEST}"
    with write_transaction(portal_service.engine) as conn:
        conn.execute(
            webhook_attempts.update()
            .where(webhook_attempts.c.id == attempt_id)
            .values(status_code=0, response=None, sent=False, error=why)
        )
    listed = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts").text
    assert ">Not sent</span>" in listed and why in listed
    shown = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}").text
    assert "<dd>Not sent</dd>" in shown and "Nothing was sent." in shown
    # Of the attempts made, the one there was succeeded.
    row = visitor.http.get("/portal/endpoints").text.split("/not-sent</a>")[1].split("</tr>")[0]
    assert ">100.0%</span>" in row and "of 1 attempt<" in row


def test_the_success_rate_is_never_rounded_to_all_or_none(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """One failure in 3,000 attempts was shown as 100.0%, a receiver that never fails,
    and one success in 3,000 as 0.0%, one that never answers."""
    shown = {}
    for name, outcomes in (
        ("flaky", [False] + [True] * 2999),
        ("nearly-down", [True] + [False] * 2999),
        ("half", [True, False] * 1500),
    ):
        log_attempts(portal_service.engine, _create(visitor, f"{URL}/{name}"), outcomes)
    listed = visitor.http.get("/portal/endpoints").text
    for name in ("flaky", "nearly-down", "half"):
        row = listed.split(f"/{name}</a>")[1].split("</tr>")[0]
        shown[name] = html.unescape(_words(row))
    assert shown == {
        "flaky": "producersync Enabled >99.9% of 3,000 attempts",
        "nearly-down": "producersync Enabled <0.1% of 3,000 attempts",
        "half": "producersync Enabled 50.0% of 3,000 attempts",
    }


def test_a_page_from_another_endpoints_attempt_says_it_is_not_of_this_list(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """It said "This account has no such attempt" of an attempt the account has: the
    cursor is refused for being no attempt of this endpoint's list, as the API says."""
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [True])
    (attempt_id,) = _attempt_ids(portal_service, endpoint_id)
    sibling = _create(visitor, "http://127.0.0.1:9/sibling")
    page = visitor.http.get(f"/portal/endpoints/{sibling}/attempts", params={"before": attempt_id})
    assert page.status_code == 404
    said = html.unescape(page.text)
    assert f"Attempt {attempt_id} is not an attempt of this endpoint's list" in said
    assert "(parameter 'before')" in said and "no such attempt" not in said


def test_an_attempt_is_found_only_under_its_own_endpoint(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    endpoint_id = _create(visitor)
    log_attempts(portal_service.engine, endpoint_id, [False], response="only for its owner")
    (attempt_id,) = _attempt_ids(portal_service, endpoint_id)
    sibling = _create(visitor, "http://127.0.0.1:9/sibling")

    for path, says in [
        (f"/portal/endpoints/{sibling}/attempts/{attempt_id}", "Attempt not found"),
        (f"/portal/endpoints/{endpoint_id}/attempts/{2**62}", "Attempt not found"),
        *(
            (f"/portal/endpoints/{endpoint_id}/attempts/{odd}", "Page not found")
            for odd in ("0", "-1", f"{attempt_id}.0", "x", str(2**63))
        ),
    ]:
        page = visitor.http.get(path)
        assert page.status_code == 404 and says in page.text, path
        assert "only for its owner" not in page.text

    intruder = sign_in(portal_service, portal_service.account())
    try:
        page = intruder.http.get(f"/portal/endpoints/{endpoint_id}/attempts/{attempt_id}")
        assert page.status_code == 404 and "Endpoint not found" in page.text
        assert "only for its owner" not in page.text
    finally:
        intruder.http.close()


def test_the_recover_form_offers_its_window_by_the_store_s_clock(
    visitor: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its bounds were the portal process's clock, where recover judges by the store's: an
    # hour ahead, the form offered the hour to come (every minute of it refused as in the
    # future) and held back the window's first hour (offered again an hour behind, and
    # refused as more than 14 days ago).
    endpoint_id = _create(visitor)
    skew_clock(monkeypatch, attempts_page, dt.timedelta(hours=1))
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts")
    found = re.search(r'id="since"[^>]*min="([^"]+)" max="([^"]+)"', page.text)
    assert found is not None, page.text
    earliest, latest = (
        dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC) for at in found.groups()
    )
    now = dt.datetime.now(dt.UTC)
    assert latest <= now
    assert earliest <= now - dt.timedelta(days=14) + dt.timedelta(minutes=1)


@pytest.mark.parametrize("by", [dt.timedelta(hours=1), -dt.timedelta(hours=1)])
def test_the_endpoints_success_rate_counts_its_days_by_the_store_s_clock(
    portal_service: RunningService,
    visitor: SignedIn,
    monkeypatch: pytest.MonkeyPatch,
    by: dt.timedelta,
) -> None:
    # Its 7 days ended at the portal process's time, where the attempts are stamped by the
    # store's: an hour ahead, the window's first hour was left out; an hour behind, the
    # hour before it was counted.
    endpoint_id = _create(visitor)
    window_opens = dt.datetime.now(dt.UTC) - endpoints_page.STATS_WINDOW
    half_hour = dt.timedelta(minutes=30)
    log_attempts(portal_service.engine, endpoint_id, [True], start=window_opens + half_hour)
    log_attempts(portal_service.engine, endpoint_id, [False], start=window_opens - half_hour)
    skew_clock(monkeypatch, endpoints_page, by)
    page = visitor.http.get("/portal/endpoints")
    assert re.search(r">100\.0%</span>\s*<span[^>]*>of 1 attempt<", page.text), page.text


def test_the_events_the_portal_makes_carry_the_store_s_time(
    portal_service: RunningService, visitor: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # By the portal process's clock, a host a day ahead sent an example of tomorrow's run
    # (and the endpoint's test event dated tomorrow), each beside its message, stamped by
    # the store, of today.
    for module in (management, events_model):
        skew_clock(monkeypatch, module, dt.timedelta(days=1))
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    endpoint_id = _create(visitor)
    example = visitor.http.get(f"/portal/endpoints/{endpoint_id}/testing")
    sent = visitor.form(f"/portal/endpoints/{endpoint_id}/testing", type=UPDATES_AVAILABLE)
    assert sent.status_code == 303, sent.text
    after = dt.datetime.now(dt.UTC)
    with portal_service.engine.connect() as conn:
        messages = outbox.list_messages(conn, visitor.creds.account_id, limit=9)
    events = [orjson.loads(m.payload) for m in messages]
    assert [e["type"] for e in events] == [UPDATES_AVAILABLE, ENDPOINT_TEST]
    for event in events:
        assert before <= dt.datetime.fromisoformat(event["timestamp"]) <= after, event
    assert events[0]["data"]["runDate"] == events[0]["timestamp"][:10]
    shown = re.search(r"&#34;runDate&#34;: &#34;([0-9-]+)&#34;", example.text)
    assert shown is not None, example.text
    assert before.date() <= dt.date.fromisoformat(shown.group(1)) <= after.date()


# Read by the form's own parser (fromisoformat), the first three were taken, which the API
# refuses; the next was refused, which it takes.
_TIMES = [
    "2026-06-01T09",
    "20260601",
    "2026-W23-1",
    "2026-06-01 09:00z",
    "2026-06-01",
    " 2026-06-01T09:00:00,5+01:00 ",
    # Space to Python, not to the API (model/spaces.py): the form trimmed and took them.
    "\xa02026-06-01",
    "2026-06-01T09:00\u3000",
    "\x1f2026-06-01T09:00Z",
]
_NOT_A_TIME = "is not an ISO 8601 time"


@pytest.mark.parametrize("typed", _TIMES)
def test_the_attempts_filter_and_recover_read_a_time_as_the_api_does(
    portal_service: RunningService, visitor: SignedIn, typed: str
) -> None:
    endpoint_id = _create(visitor)
    path = f"/v1/webhooks/endpoints/{endpoint_id}"
    with portal_service.client(visitor.creds) as api:
        listed = api.get(f"{path}/attempts", params={"since": typed})
        recovered = api.post(f"{path}/recover", json={"since": typed})
    assert listed.status_code in (200, 400), listed.text
    page = visitor.http.get(f"/portal/endpoints/{endpoint_id}/attempts", params={"since": typed})
    assert page.status_code == listed.status_code, page.text
    form = visitor.form(f"/portal/endpoints/{endpoint_id}/recover", since=typed)
    # Each a date past the 14 days: refused by the rule if not by the syntax, as the API.
    assert form.status_code == recovered.status_code == 400, (form.text, recovered.text)
    by_syntax = _NOT_A_TIME.removeprefix("is ") in recovered.json()["message"]
    assert (_NOT_A_TIME in _error(form)) == by_syntax, _error(form)
    if listed.status_code == 400:
        why = listed.json()["message"].split("not an ISO 8601 time", 1)[1]
        assert _error(page) == f"'{typed[:40]}' {_NOT_A_TIME}{why}"


# --- a form sent twice ------------------------------------------------------------------


def _form_fields(page: httpx2.Response, action: str) -> dict[str, str]:
    """The hidden fields of the page's POST form to ``action``, as the page drew them."""
    found = re.search(
        rf'<form method="post" action="{re.escape(action)}"[^>]*>(.*?)</form>', page.text, re.S
    )
    assert found, f"the page has no form to {action}"
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', found[1])
    }


def _fail_deliveries(service: RunningService, endpoint_id: str) -> None:
    """Every delivery to the endpoint ended, failed for good, as if tried and refused."""
    _set_deliveries(service, endpoint_id, state="failed", manual=False, next_attempt_at=None)


_SINCE = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
# Each action form: the page it is on, its action, the fields typed, and what the first
# sending's answer leads to.
_ACTIONS = [
    ("advanced", "delete", {"confirm": "yes"}, "/portal/endpoints?notice=deleted"),
    ("testing", "testing", {"type": NPN_ACTIVATED}, f"/testing?type={NPN_ACTIVATED}&sent=evt_"),
    ("attempts", "messages/{msg}/resend", {}, "/attempts?notice=resent"),
    ("attempts", "recover", {"since": _SINCE}, "/attempts?notice=recovered&queued=1"),
]


@pytest.mark.parametrize(
    ("tab", "action", "typed", "leads_to"), _ACTIONS, ids=[a[1] for a in _ACTIONS]
)
def test_a_form_sent_twice_acts_once_and_leads_again_to_the_first_answer(
    portal_service: RunningService,
    visitor: SignedIn,
    tab: str,
    action: str,
    typed: dict[str, str],
    leads_to: str,
) -> None:
    """A second press on a slow network, a retrying proxy, Back and send: the same form
    sent again, without a script to stop it. Delete said 'Endpoint not found', Recover
    'queued: 0', Send Example sent a second example and Resend a second attempt of a
    message whose first was made meanwhile (failed here, as Recover needs)."""
    endpoint_id = _create(visitor)
    message_id = _message(portal_service, visitor.creds.account_id)
    log_attempts(portal_service.engine, endpoint_id, [False])  # Resend is on its row
    _fail_deliveries(portal_service, endpoint_id)
    base = f"/portal/endpoints/{endpoint_id}"
    page = visitor.http.get(f"{base}/{tab}")
    path = f"{base}/{action.format(msg=message_id)}"
    sent = {**_form_fields(page, path), **typed}
    assert re.fullmatch("[0-9a-f]{32}", sent["once"])

    first = visitor.http.post(path, data=sent)
    assert first.status_code == 303, first.text
    assert leads_to in first.headers["location"]
    _fail_deliveries(portal_service, endpoint_id)  # the first's attempt was made meanwhile
    after = _state(portal_service, visitor.creds.account_id)

    again = visitor.http.post(path, data=sent)
    assert again.status_code == 303, again.text
    assert again.headers["location"] == first.headers["location"] + "&again=1"
    assert _state(portal_service, visitor.creds.account_id) == after
    shown = visitor.http.get(again.headers["location"])
    assert shown.status_code == 200
    assert "This form was sent before, and done then: nothing more was done." in shown.text

    # A new drawing of the page is a new form: it acts (but Delete, its endpoint gone).
    if action != "delete":
        fresh = {**_form_fields(visitor.http.get(f"{base}/{tab}"), path), **typed}
        assert fresh["once"] != sent["once"]
        assert visitor.http.post(path, data=fresh).status_code == 303
        assert _state(portal_service, visitor.creds.account_id) != after


def test_a_form_sent_twice_at_once_acts_once(
    portal_service: RunningService, visitor: SignedIn
) -> None:
    """Both wait on the token's claim (the store's one writer here): the second finds the
    first's answer."""
    endpoint_id = _create(visitor)
    path = f"/portal/endpoints/{endpoint_id}/testing"
    sent = {**_form_fields(visitor.http.get(path), path), "type": NPN_ACTIVATED}
    with portal_service.engine.connect() as conn:
        before = len(outbox.list_messages(conn, visitor.creds.account_id, limit=100))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: visitor.http.post(path, data=sent), range(4)))
    assert [a.status_code for a in answers] == [303] * 4
    assert sum("again=1" not in a.headers["location"] for a in answers) == 1
    with portal_service.engine.connect() as conn:
        assert len(outbox.list_messages(conn, visitor.creds.account_id, limit=100)) == before + 1


@pytest.mark.parametrize("once", ["x", "0" * 31, "G" * 32])
def test_a_form_token_the_page_did_not_make_is_refused_and_changes_nothing(
    portal_service: RunningService, visitor: SignedIn, once: str
) -> None:
    endpoint_id = _create(visitor)
    before = _state(portal_service, visitor.creds.account_id)
    path = f"/portal/endpoints/{endpoint_id}/delete"
    refused = visitor.form(path, confirm="yes", once=once)
    assert refused.status_code == 400, refused.text
    assert "Field &#39;once&#39; is not a token the portal&#39;s page made" in refused.text
    assert _state(portal_service, visitor.creds.account_id) == before
