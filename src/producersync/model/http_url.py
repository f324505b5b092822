"""What a URL of the API must be: here rather than in the SDK, so that the sync's
settings check one without importing the SDK and its HTTP stack (``producersync check``
and the other commands that only read the mirror have no use for them)."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["http_url"]


def http_url(value: str, name: str | None = None) -> str:
    """``value`` if it is an http(s) URL with a host; else a ``ValueError`` naming
    ``name`` and the value (credentials in it masked): a misconfigured URL fails at once
    instead of after every retry."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        userinfo, at, _ = parts.netloc.rpartition("@")
        shown = value.replace(userinfo + at, "***@", 1) if at else value
        prefix = f"{name}: " if name else ""
        raise ValueError(f"{prefix}{shown!r} is not an http(s) URL with a host")
    return value
