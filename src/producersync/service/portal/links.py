"""Where a portal login link points: the service's public URL, or its listen address."""

from __future__ import annotations

from producersync.service.settings import ServiceSettings

__all__ = ["LOGIN_PATH", "login_url", "portal_base_url"]

LOGIN_PATH = "/portal/login/"

# A wildcard listen address is no address to browse to; on the service's own machine
# loopback reaches it, and elsewhere PRODUCERSYNC_PUBLIC_URL is the answer.
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def portal_base_url(settings: ServiceSettings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in _WILDCARDS else settings.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal
    return f"http://{host}:{settings.port}"


def login_url(settings: ServiceSettings, token: str) -> str:
    return portal_base_url(settings) + LOGIN_PATH + token
