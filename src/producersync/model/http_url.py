"""What a URL of the API must be: here rather than in the SDK, so that the sync's
settings check one without importing the SDK and its HTTP stack (``producersync check``
and the other commands that only read the mirror have no use for them)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

from producersync.url_userinfo import masked

__all__ = ["api_url", "http_url", "in_clear", "refused_in_clear"]

# The API's versions, which the client puts in every path itself (/v2/licenses).
_VERSIONS = frozenset({"v1", "v2"})


def http_url(value: str, name: str | None = None) -> str:
    """``value`` if it is an http(s) URL with a host; else a ``ValueError`` naming
    ``name`` and the value (credentials in it masked): a misconfigured URL fails at once
    instead of after every retry."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{_named(name)}{masked(value)!r} is not an http(s) URL with a host")
    return value


def api_url(value: str, name: str | None = None) -> str:
    """``value`` if it is the API's base URL: an ``http_url`` whose path does not end in
    one of the API's versions. Pasted as ``https://api.example/v2``, every call went to
    ``/v2/v2/...`` and the token was asked of ``/v2/oauth2/token``: the first call failed
    "401 Unauthorized: Missing bearer token", which reads as wrong credentials."""
    http_url(value, name)
    parts = urlsplit(value)
    above, _, last = parts.path.rstrip("/").rpartition("/")
    if last.lower() in _VERSIONS:
        root = parts._replace(path=above, query="", fragment="").geturl()
        raise ValueError(
            f"{_named(name)}{masked(value)!r} ends in the API's version /{last}: give its "
            f"root, {masked(root)!r} (the client adds /v1 and /v2)"
        )
    return value


def in_clear(value: str) -> bool:
    """Whether ``value`` (an ``http_url``) is plain http to another host than this one:
    what is sent there (a client secret, an access token, the records read) crosses a
    network unencrypted. Loopback (``localhost``, 127.0.0.0/8, ``::1``) never leaves it."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme != "http" or host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: it may resolve anywhere
        return True


def refused_in_clear(urls: Mapping[str, str | None], allow: str) -> list[tuple[str, str]]:
    """Each of ``urls`` (by the name it was given as; None for one not given) that would
    carry the client secret and the tokens ``in_clear``, with why it is refused; ``allow``
    tells how to allow it anyway. The one rule of the sync service's settings and of the
    SDK's ``Client``, which refused nothing: ``Client(base_url="http://api.internal")``
    sent the secret across the network unencrypted where the sync service would not."""
    why = (
        "plain http to another host sends the client secret, the access tokens and the "
        f"records unencrypted; give an https:// URL (or {allow}, on a network no one else "
        "reads)"
    )
    return [(name, why) for name, url in urls.items() if url is not None and in_clear(url)]


def _named(name: str | None) -> str:
    return f"{name}: " if name else ""
