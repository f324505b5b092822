"""Login links, sessions and CSRF tokens, without HTTP: the store functions and the pure
helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from producersync.service.portal.csrf import csrf_matches, csrf_token
from producersync.service.portal.links import login_url
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts
from producersync.service.store import portal as store
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.store.tables import portal_links, portal_sessions
from tests.support.delivery import skew_clock

WEEK = dt.timedelta(days=7)
HOUR = dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('links') / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def account(engine: sa.Engine) -> accounts.Account:
    with write_transaction(engine) as conn:
        return accounts.create_account(conn, f"acct-{dt.datetime.now().timestamp()}", sandbox=False)


def _issue(engine: sa.Engine, account: accounts.Account, ttl: dt.timedelta = WEEK) -> str:
    with write_transaction(engine) as conn:
        token, expires = store.issue_link(conn, account.id, ttl)
    assert abs(expires - (dt.datetime.now(dt.UTC) + ttl)) < dt.timedelta(seconds=5)
    return token


def _redeem(engine: sa.Engine, token: str) -> str:
    with write_transaction(engine) as conn:
        return store.redeem_link(conn, token, HOUR)


def test_a_link_starts_one_session_and_is_then_used(
    engine: sa.Engine, account: accounts.Account
) -> None:
    token = _issue(engine, account)
    with engine.connect() as conn:
        assert store.check_link(conn, token) == account.name
    session_id = _redeem(engine, token)
    with engine.connect() as conn:
        session = store.find_session(conn, session_id)
        assert session is not None
        assert (session.account_id, session.account_name) == (account.id, account.name)
        with pytest.raises(store.LinkRefused) as refused:
            store.check_link(conn, token)
    assert refused.value.reason == "used"
    with pytest.raises(store.LinkRefused) as again:
        _redeem(engine, token)
    assert again.value.reason == "used"


def test_an_expired_link_is_refused_as_expired(
    engine: sa.Engine, account: accounts.Account
) -> None:
    token = _issue(engine, account, ttl=-dt.timedelta(seconds=1))
    with pytest.raises(store.LinkRefused) as refused:
        _redeem(engine, token)
    assert refused.value.reason == "expired"


def test_an_unknown_link_is_refused_as_unknown(engine: sa.Engine) -> None:
    with pytest.raises(store.LinkRefused) as refused, engine.connect() as conn:
        store.check_link(conn, "psl_" + "x" * 43)
    assert refused.value.reason == "unknown"


def test_a_new_link_leaves_earlier_ones_valid(engine: sa.Engine, account: accounts.Account) -> None:
    first, second = _issue(engine, account), _issue(engine, account)
    assert first != second
    assert _redeem(engine, second) != _redeem(engine, first)


def test_only_digests_are_stored(engine: sa.Engine, account: accounts.Account) -> None:
    token = _issue(engine, account)
    session_id = _redeem(engine, token)
    with engine.connect() as conn:
        stored = [*conn.execute(sa.select(portal_links)), *conn.execute(sa.select(portal_sessions))]
    text = repr(stored)
    assert token not in text and token.removeprefix("psl_") not in text
    assert session_id not in text


def test_a_session_ends_on_logout_or_expiry(engine: sa.Engine, account: accounts.Account) -> None:
    ended = _redeem(engine, _issue(engine, account))
    expiring = _redeem(engine, _issue(engine, account))
    with write_transaction(engine) as conn:
        store.end_session(conn, ended)
        conn.execute(
            portal_sessions.update()
            .where(portal_sessions.c.account_id == account.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - HOUR)
        )
    with engine.connect() as conn:
        assert store.find_session(conn, ended) is None
        assert store.find_session(conn, expiring) is None
        assert store.find_session(conn, "not-a-session") is None


@pytest.mark.parametrize(
    ("issued_by", "judged_by"), [(dt.timedelta(0), 2 * HOUR), (-2 * HOUR, dt.timedelta(0))]
)
def test_links_and_sessions_last_their_time_by_the_store_s_clock(
    engine: sa.Engine,
    account: accounts.Account,
    monkeypatch: pytest.MonkeyPatch,
    issued_by: dt.timedelta,
    judged_by: dt.timedelta,
) -> None:
    # Each process stamped and judged them by its own clock: a link the CLI issued for an
    # hour was expired on a portal host two hours ahead, and a session started there
    # ended early on the other hosts (or, started behind, was dead on arrival).
    skew_clock(monkeypatch, store, issued_by)
    with write_transaction(engine) as conn:
        token, _expires = store.issue_link(conn, account.id, HOUR)
        session_id = store.redeem_link(conn, store.issue_link(conn, account.id, HOUR)[0], HOUR)
    skew_clock(monkeypatch, store, judged_by)
    with engine.connect() as conn:
        assert store.check_link(conn, token) == account.name
        assert store.find_session(conn, session_id) is not None
    assert _redeem(engine, token)


def test_csrf_tokens_belong_to_their_secret() -> None:
    token = csrf_token("session-a")
    assert csrf_matches("session-a", token)
    assert not csrf_matches("session-b", token)
    assert not csrf_matches("session-a", token[:-1])
    assert not csrf_matches("session-a", "")
    assert not csrf_matches("session-a", "é" * len(token))  # non-ASCII: refused, not an error


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"public_url": "https://ps.example.com/"}, "https://ps.example.com/portal/login/T"),
        ({"host": "127.0.0.1", "port": 8123}, "http://127.0.0.1:8123/portal/login/T"),
        ({"host": "0.0.0.0", "port": 80}, "http://127.0.0.1:80/portal/login/T"),
        ({"host": "::1", "port": 8000}, "http://[::1]:8000/portal/login/T"),
    ],
)
def test_login_url(settings: dict[str, object], expected: str, tmp_path: Path) -> None:
    values = {"database_url": f"sqlite:///{tmp_path / 'x.db'}", **settings}
    assert login_url(ServiceSettings(**values), "T") == expected  # type: ignore[arg-type]
