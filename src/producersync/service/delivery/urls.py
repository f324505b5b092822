"""The SSRF guard: an endpoint URL must be https and reach only public addresses, unless
the service runs with ``allow_private_endpoints`` (local development, tests).

Checked when an endpoint is saved and again before every attempt, since a name can be
re-pointed at a private address after it was accepted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import httpx2

__all__ = ["AddressGuard", "EndpointUrlError", "check_endpoint_url", "is_public_address"]

_MAX_URL = 2048
_CACHE_SECONDS = 60.0


class EndpointUrlError(ValueError):
    """An endpoint URL the service will not send to; the message says why."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64's well-known
# prefix (64:ff9b::a9fe:a9fe is 169.254.169.254 on an IPv6-only network) and the
# deprecated IPv4-compatible addresses (::127.0.0.1).
_CARRY_IPV4 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))
# NAT64 for local use (RFC 8215): translates to whatever the network chooses.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translator or tunnel takes this one to, if any."""
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in prefix for prefix in _CARRY_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _public(ip)
    if ip.ipv4_mapped is not None:
        return _public(ip.ipv4_mapped)
    if ip in _LOCAL_NAT64:
        return False
    carried = _carried_ipv4(ip)
    return _public(ip) and (carried is None or _public(carried))


def _parts(url: str, allow_private: bool) -> tuple[str, int]:
    if len(url) > _MAX_URL:
        raise EndpointUrlError(f"the URL is longer than {_MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointUrlError(f"'{url}' is not a valid URL: {exc}") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise EndpointUrlError(f"the URL must use https, not '{parts.scheme or 'nothing'}'")
    if not parts.hostname:
        raise EndpointUrlError(f"'{url}' has no host")
    if parts.username is not None or parts.password is not None:
        raise EndpointUrlError("the URL must not carry credentials (user:password@)")
    if parts.fragment:
        raise EndpointUrlError("the URL must not have a #fragment")
    if port == 0:
        # Not "the default port", as `port or 443` would read it: no port at all.
        raise EndpointUrlError("the URL's port must be 1 to 65535, not 0")
    try:
        # The host as the sender reads it, which is the one it connects to: Python and
        # httpx2 read some hosts apart ('ß.example' is ss.example to Python's IDNA 2003,
        # xn--zca.example to httpx2's IDNA 2008), and a URL httpx2 cannot read at all
        # ('ex\u00adample.com') raised out of every attempt once saved.
        host = httpx2.URL(url).raw_host.decode("ascii")
    except httpx2.InvalidURL as exc:
        raise EndpointUrlError(f"'{url}' is not a valid URL: {exc}") from None
    return host, port or (443 if parts.scheme == "https" else 80)


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointUrlError(f"the host '{host}' does not resolve: {exc}") from None
    return sorted({str(info[4][0]) for info in infos})


def _refuse_private(host: str, addresses: list[str]) -> None:
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise EndpointUrlError(
            f"the host '{host}' resolves to a non-public address ({', '.join(private)}); "
            "endpoints must be reachable on the public internet"
        )


def check_endpoint_url(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if the service may send to it; else ``EndpointUrlError``."""
    url = url.strip()
    host, port = _parts(url, allow_private)
    if not allow_private:
        _refuse_private(host, _resolve(host, port))
    return url


class AddressGuard:
    """The send-time check, with answers cached for a minute per host (one lookup for a
    thousand deliveries to the same receiver, not a thousand)."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._cache: dict[tuple[str, int], tuple[float, str | None]] = {}

    async def refusal(self, url: str) -> str | None:
        """Why the URL must not be sent to now, or ``None``."""
        try:
            host, port = _parts(url, self._allow_private)
        except EndpointUrlError as exc:
            return str(exc)
        if self._allow_private:
            return None
        key = (host, port)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_SECONDS:
            return cached[1]
        try:
            addresses = await asyncio.to_thread(_resolve, host, port)
            _refuse_private(host, addresses)
            verdict = None
        except EndpointUrlError as exc:
            verdict = str(exc)
        self._cache[key] = (time.monotonic(), verdict)
        return verdict
