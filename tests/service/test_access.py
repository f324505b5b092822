"""Each request's id, on every answer of the service and in the log lines made while it was
handled, and the access-log line (``producersync.service.access``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from producersync.log_format import LogFormat, log_config
from producersync.request_ids import RequestIdFilter, current_request_id
from producersync.service.access import identify_requests
from producersync.service.api.body_limit import MAX_BODY_BYTES
from producersync.service.app import create_app
from producersync.service.errors import install_error_handlers
from producersync.service.settings import ServiceSettings
from producersync.service.store import accounts, portal
from producersync.service.store.engine import write_transaction
from producersync.service.store.open import open_store
from producersync.service.unavailable import StoreUnavailable
from tests.support.asgi import request
from tests.support.service import running_service

_FRESH = re.compile(r"req_[0-9a-f]{24}")


async def _logs_a_warning(request: Request) -> Response:
    logging.getLogger("producersync.service.test").warning("while answering")
    return Response("ok")


async def _fails(request: Request) -> Response:
    raise RuntimeError("a bug")


async def _store_away(request: Request) -> Response:
    raise sa.exc.TimeoutError("no pooled connection came free")


def _small_app(*, access_log: bool = False) -> Starlette:
    """A route that logs, one with a bug and one that finds the store away, in the service's
    error handlers and outage middleware, its requests identified as the service's are."""
    app = Starlette(
        routes=[
            Route("/logs", _logs_a_warning),
            Route("/bug", _fails),
            Route("/outage", _store_away),
        ]
    )
    install_error_handlers(app)
    app.add_middleware(StoreUnavailable)
    identify_requests(app, access_log=access_log)
    return app


def test_every_answer_of_the_service_names_its_request(tmp_path: Path) -> None:
    """The service sent no request id: the SDK's errors read x-request-id, and had none to
    show against ours. Each kind of answer now has one, each its own."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    settings = ServiceSettings(
        database_url=store, delivery_enabled=False, api_rate_limit_per_minute=2
    )
    with TestClient(create_app(settings)) as http:
        with write_transaction(engine := open_store(store)) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False)
            client_id, secret = accounts.create_client(
                conn, account, "producersync.read producersync.write"
            )
        engine.dispose()
        form = {"grant_type": "client_credentials", "client_id": client_id}
        token = http.post("/oauth2/token", data={**form, "client_secret": secret})
        bearer = {"authorization": f"Bearer {token.json()['access_token']}"}
        answers = [
            token,
            http.get("/healthz"),
            http.get("/v2/licenses"),  # 401
            http.head("/v2/licenses"),
            http.get("/no/such/path"),
            http.delete("/healthz"),  # 405
            http.post("/oauth2/token", data={**form, "client_secret": "wrong"}),
            http.get("/oauth2/token"),  # the token endpoint's 405
            http.get("/portal/"),  # no session
            http.get("/portal", follow_redirects=False),
            http.get("/v2/licenses", headers=bearer),
            http.put(
                "/v1/accounts/subscriptions",
                content=b"[" + b" " * MAX_BODY_BYTES * 70 + b"]",
                headers={**bearer, "content-type": "application/json"},
            ),  # 413
            http.get("/v2/licenses", headers=bearer),  # 429
        ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 401, 401, 404, 405, 401, 405, 401, 307, 200, 413, 429]
    ids = [answer.headers.get("x-request-id", "") for answer in answers]
    assert all(_FRESH.fullmatch(each) for each in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(("path", "status"), [("/bug", 500), ("/outage", 503)])
def test_the_500_and_503_answered_outside_the_routes_name_their_request(
    path: str, status: int
) -> None:
    """Starlette's own 500 answer is outside any middleware added to the app."""
    with TestClient(_small_app(), raise_server_exceptions=False) as http:
        answer = http.get(path)
    assert answer.status_code == status
    assert _FRESH.fullmatch(answer.headers["x-request-id"])


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ([b"3f2c9a1e-7b7d-4a57-9a0e-2b5c1d6e8f90"], True),  # a UUID
        ([b"01JEH6Q0Z3K9V8W7X6Y5T4S3R2"], True),  # a ULID
        ([b"Root=1-67891233+abc/def=="], True),
        ([b"x" * 128], True),
        ([b"x" * 129], False),
        ([b""], False),
        ([b"two words"], False),
        ([b"a\x1b[31mred"], False),
        ([b'"quoted"'], False),
        (["caf\u00e9".encode("latin-1")], False),
        ([b"one", b"two"], False),
    ],
)
def test_a_clients_own_id_is_kept_only_when_it_is_a_sane_token(
    given: list[bytes], kept: bool
) -> None:
    with TestClient(_small_app()) as http:
        answer = http.get("/logs", headers=[(b"x-request-id", value) for value in given])
    sent = answer.headers["x-request-id"]
    assert sent == given[0].decode() if kept else _FRESH.fullmatch(sent), sent


class _Lines(logging.Handler):
    """The lines a process logs, formatted as its configuration formats them."""

    def __init__(self, log_format: LogFormat) -> None:
        super().__init__()
        config = log_config("info", log_format)
        configurator = logging.config.DictConfigurator(config)
        self.setFormatter(configurator.configure_formatter(config["formatters"]["line"]))
        self.addFilter(RequestIdFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def _logged(log_format: LogFormat) -> Iterator[list[str]]:
    handler = _Lines(log_format)
    logger = logging.getLogger("producersync")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_the_lines_logged_while_answering_and_the_access_line_carry_the_id() -> None:
    with _logged("text") as lines, TestClient(_small_app(access_log=True)) as http:
        answer = http.get("/logs?link=a-sign-in-token", headers={"x-request-id": "ticket-42"})
    assert answer.headers["x-request-id"] == "ticket-42"
    warning, access = lines
    assert warning.endswith(
        "WARNING producersync.service.test: while answering request_id=ticket-42"
    )
    assert re.search(
        r" INFO producersync\.service\.access: GET /logs 200 \d+\.\d ms request_id=ticket-42$",
        access,
    ), access


def test_the_access_line_in_json_has_its_fields() -> None:
    with _logged("json") as lines, TestClient(_small_app(access_log=True)) as http:
        http.head("/no/such%20path?q=1")
    (line,) = [json.loads(each) for each in lines]
    assert line["message"].startswith("HEAD /no/such%20path 404 ")
    assert (line["method"], line["path"], line["status"]) == ("HEAD", "/no/such%20path", 404)
    assert _FRESH.fullmatch(line["request_id"])
    assert isinstance(line["duration_ms"], float)


@pytest.mark.parametrize("public_url", [None, "http://testserver/producersync"])
def test_a_portal_sign_in_link_s_token_is_not_in_the_access_line(
    tmp_path: Path, public_url: str | None
) -> None:
    """The token is the link's last path segment, and the line showed the path as sent:
    whoever read the log could sign in with a link its owner had not used yet."""
    store = f"sqlite:///{tmp_path / 'store.db'}"
    settings = ServiceSettings(
        database_url=store, delivery_enabled=False, access_log=True, public_url=public_url
    )
    with TestClient(create_app(settings)) as http:
        with write_transaction(engine := open_store(store)) as conn:
            account = accounts.create_account(conn, "acme", sandbox=False)
            token, _ = portal.issue_link(conn, account.id, dt.timedelta(hours=1))
        engine.dispose()
        with _logged("json") as lines:
            answer = http.get(f"/portal/login/{token}")
    assert answer.status_code == 200 and "acme" in answer.text
    (line,) = [json.loads(each) for each in lines if token[:8] in each or "/login/" in each]
    prefix = "/producersync" if public_url else ""
    assert line["path"] == f"{prefix}/portal/login/***"
    assert line["message"].startswith(f"GET {prefix}/portal/login/*** 200 ")
    assert token.removeprefix("psl_") not in "".join(lines)


def test_the_access_line_names_the_client_of_a_good_token_refused_or_not(
    tmp_path: Path,
) -> None:
    """A run of 429s named no one: which client was throttled (or still calling once
    revoked) could not be told from the log."""
    with running_service(
        f"sqlite:///{tmp_path / 'store.db'}", access_log=True, api_rate_limit_per_minute=1
    ) as svc:
        creds = svc.account()
        with svc.client(creds) as http, _logged("json") as lines:
            codes = [http.get("/v2/licenses").status_code for _ in range(2)]
            http.get("/v2/licenses", headers={"authorization": "Bearer nonsense"})
    assert codes == [200, 429]
    access = [json.loads(line) for line in lines if '"producersync.service.access"' in line]
    told = [
        (line["status"], line["client_id"]) for line in access if line["path"] == "/v2/licenses"
    ]
    assert told == [(200, creds.client_id), (429, creds.client_id), (401, None)], told
    ok, throttled, unknown = [line["message"] for line in access if line["path"] == "/v2/licenses"]
    assert f" client={creds.client_id}" in ok and f" client={creds.client_id}" in throttled
    assert "client=" not in unknown


def test_no_access_line_unless_asked_for() -> None:
    with _logged("text") as lines, TestClient(_small_app()) as http:
        http.get("/no/such/path")
    assert lines == []


def test_the_servers_report_of_a_failure_carries_the_id() -> None:
    """uvicorn logs a request's exception (``Exception in ASGI application``, the
    traceback) once the app has raised it, in the request's task: the id is still set
    there, the access line before it has it too."""

    async def served() -> None:
        try:
            await request(_small_app(access_log=True), "GET", "/bug", [(b"x-request-id", b"bug-7")])
        except RuntimeError:
            logging.getLogger("producersync.server").exception("Exception in ASGI application")

    with _logged("text") as lines:
        asyncio.run(served())
    assert current_request_id.get() is None
    assert " GET /bug 500 " in lines[0] and lines[0].endswith(" request_id=bug-7")
    report = lines[1].splitlines()
    assert report[0].endswith("Exception in ASGI application request_id=bug-7")
    assert report[-1] == "RuntimeError: a bug"
