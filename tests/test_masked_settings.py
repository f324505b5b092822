"""Every process's settings are shown without a secret: their repr and str (a debugger's,
a traceback's with its locals, a line that formats them) mask each URL's user and
password, and a secret shows as ``**********``, while the values themselves are as given."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic_settings import BaseSettings
from rich.console import Console
from rich.pretty import pprint

from producersync.service.auth.secrets import new_client_secret
from producersync.service.settings import ServiceSettings
from producersync.sync.settings import SyncSettings
from producersync.webhooks import generate_secret
from tests.support.secret_scan import SecretScanner

_CLIENT_SECRET = new_client_secret()
_WEBHOOK_SECRET = generate_secret()
_SIGNING_KEY = "signing-key-" + "k" * 32

_SETTINGS = {
    ServiceSettings: {
        "database_url": "postgresql+psycopg://store:store-pw-1@db.example/producersync",
        "dbos_system_database_url": "postgresql://dbos:dbos-pw-2@db.example/dbos",
        "rate_limit_storage": "redis://:redis-pw-3@cache.example:6379/0",
        "token_signing_key": _SIGNING_KEY,
    },
    SyncSettings: {
        "api_url": "https://gateway:api-pw-4@api.example",
        "token_url": "https://gateway:token-pw-5@auth.example/oauth2/token",
        "client_id": "psc_1",
        "client_secret": _CLIENT_SECRET,
        "webhook_secrets": _WEBHOOK_SECRET,
        "mirror_url": "postgresql://mirror:mirror-pw-6@db.example/mirror",
        "dbos_system_database_url": "postgresql://dbos:pass word-7@db.example/dbos",
    },
}


def _shown(settings: BaseSettings) -> list[str]:
    """The settings as a repr, a str, an f-string and rich's pretty printer show them."""
    pretty = io.StringIO()
    pprint(settings, console=Console(file=pretty, width=100), expand_all=True)
    return [repr(settings), str(settings), f"{settings}", pretty.getvalue()]


@pytest.mark.parametrize("cls", list(_SETTINGS), ids=lambda cls: cls.__name__)
def test_settings_are_shown_without_a_password_or_a_secret(cls: type[BaseSettings]) -> None:
    given: dict[str, Any] = _SETTINGS[cls]
    settings = cls(**given)
    scanner = SecretScanner()
    for secret in (_CLIENT_SECRET, _WEBHOOK_SECRET, _SIGNING_KEY):
        scanner.remember(secret)
    for text in _shown(settings):
        assert scanner.find(text) == []
        assert "-pw-" not in text and "word-7" not in text
        assert "//***@db.example/" in text
    # Shown masked, kept as given: the processes open them as they are.
    urls = {name: value for name, value in given.items() if name.endswith("_url")}
    assert {name: getattr(settings, name) for name in urls} == urls
