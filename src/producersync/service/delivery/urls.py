"""The SSRF guard: an endpoint URL must be https and reach only public addresses, unless
the service runs with ``allow_private_endpoints`` (local development, tests).

Checked when an endpoint is saved and again on every connection an attempt opens, on the
addresses connected to, since a name can be re-pointed at a private address after it was
accepted, or between a check and the connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpcore2
import httpx2

from producersync.model.spaces import spaced, trim
from producersync.url_userinfo import masked

__all__ = [
    "RESOLVERS",
    "URL_SYNTAX",
    "AddressGuard",
    "EndpointUrlError",
    "PrivateEndpointError",
    "check_endpoint_url",
    "is_public_address",
]

_MAX_URL = 2048
RESOLVERS = 32  # threads looking up receivers' names at once, per sender

# The syntax of an endpoint URL, as the spec publishes it (the API's ``url`` pattern) and
# as a new endpoint is held to: whatever it refuses is refused, whatever it allows passes
# the rules (private addresses aside, where not allowed). The rules alone take hosts no
# resolver can look up ('208.250.0.5*', 'a..b'), ports the pattern refuses (10000 and up,
# '0123') and hosts it does not describe, so a client validating by the spec would refuse
# URLs the service takes. A host is a name of letters, digits and hyphens with a label not all
# digits (all digits, 123 or 1.2.3, the resolver reads as a short IPv4 address: 0.0.0.123),
# four octets, or a bracketed IPv6 address (RFC 3986's forms).
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = (
    "(?:"
    + "|".join(
        [rf"(?:{_H16}:){{6}}{_LS32}", rf"::(?:{_H16}:){{5}}{_LS32}"]
        + [rf"(?:(?:{_H16}:){{0,{n}}}{_H16})?::(?:{_H16}:){{{4 - n}}}{_LS32}" for n in range(5)]
        + [rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}", rf"(?:(?:{_H16}:){{0,6}}{_H16})?::"]
    )
    + ")"
)
_LABEL = r"[A-Za-z0-9-]+"
_NAME = rf"(?:{_LABEL}\.)*[0-9]*[A-Za-z-][A-Za-z0-9-]*(?:\.{_LABEL})*\.?"
_HOST = rf"(?:{_IPV4}|\[{_IPV6}\]|{_NAME})"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
# Spaces around it (model/spaces.py) are trimmed and the URL taken: the pattern refused
# what the service took.
URL_SYNTAX = spaced(rf"[Hh][Tt][Tt][Pp][Ss]?://{_HOST}(?::{_PORT})?(?:[/?][^\x00-\x20\x7f#]*)?")
_URL = re.compile(URL_SYNTAX)
_AUTHORITY = re.compile(r"(\[[^\]]*\]|[^:]*)(?::(.*))?")


class EndpointUrlError(ValueError):
    """An endpoint URL the service will not send to; the message says why."""


class PrivateEndpointError(EndpointUrlError):
    """A URL refused for plain http or a non-public address: one the service would take
    with ``allow_private_endpoints``."""


# Special-purpose blocks that Python's ``is_global`` passes, in every version or in some
# (3.12.4 and later call 2001:1::1 global, earlier ones 192.0.0.8), and where no customer's
# receiver sits: anycast services answered by the nearest operator, which may be ours (PCP
# and TURN, AS112's DNS sinks, AMT and 6to4 relays), identifiers that are not locators
# (ORCHID, DRIP) and documentation. From IANA's IPv4 and IPv6 special-purpose registries.
_SPECIAL = tuple(
    ipaddress.ip_network(block)
    for block in (
        "192.0.0.0/24",  # IETF protocol assignments, the PCP and TURN anycast included
        "192.31.196.0/24",  # AS112
        "192.52.193.0/24",  # AMT relays
        "192.88.99.0/24",  # 6to4 and 6a44 relays, deprecated (RFC 7526)
        "192.175.48.0/24",  # AS112 direct delegation
        "2001::/23",  # IETF protocol assignments: Teredo, anycast, ORCHID, DRIP, AS112
        "2620:4f:8000::/48",  # AS112 direct delegation
        "3fff::/20",  # documentation (RFC 9637)
    )
)
# The only IPv6 unicast space allocated for the internet. Outside it, what Python does not
# already call local is reserved or special all the same: fec0::/10 (site-local, RFC
# 3879), 5f00::/16 (SRv6 SIDs), 100:0:0:1::/64 (dummy), ::/96 (IPv4-compatible, deprecated),
# 64:ff9b:1::/48 (NAT64 for local use: translates to whatever the network chooses).
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits, and translates
# to it: 64:ff9b::a9fe:a9fe is 169.254.169.254 on an IPv6-only network.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast and not any(ip in block for block in _SPECIAL)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv4Address):
        return _public(ip)
    if ip.ipv4_mapped is not None:
        return _public(ip.ipv4_mapped)
    if ip in _NAT64:
        return _public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip not in _GLOBAL_UNICAST:
        return False
    # 6to4 (2002::/16) tunnels to the IPv4 address it carries.
    return _public(ip) and (ip.sixtofour is None or _public(ip.sixtofour))


def _parts(url: str, allow_private: bool) -> tuple[str, int]:
    if len(url) > _MAX_URL:
        raise EndpointUrlError(f"the URL is longer than {_MAX_URL} characters")
    # Quoted without its user and password: the refusal is shown in the API's error, the
    # portal's form and the CLI's message, and a URL not yet read may still carry them.
    shown = masked(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointUrlError(f"'{shown}' is not a valid URL: {exc}") from None
    # Said as what is wrong with this URL: not "must use https" of javascript: or ftp:
    # where http is allowed too, nor of http: as if its scheme were no web one.
    if parts.scheme not in ("https", "http"):
        allowed = "http or https" if allow_private else "https"
        first = url[:1]
        if first and (first.isspace() or unicodedata.category(first) == "Cf"):
            # Before the scheme, where "no scheme" said nothing of what was wrong: a space
            # that is not trimmed (a no-break space, a byte order mark), as in the spec.
            raise EndpointUrlError(
                f"the URL begins with U+{ord(first):04X}, a space or invisible character: "
                "only ASCII spaces, tabs and line breaks around it are trimmed"
            )
        if not parts.scheme:
            raise EndpointUrlError(f"the URL has no scheme: give it as an {allowed} URL")
        raise EndpointUrlError(f"the URL's scheme must be {allowed}, not '{parts.scheme}'")
    if not parts.hostname:
        raise EndpointUrlError(f"'{shown}' has no host")
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
        raise EndpointUrlError(f"'{shown}' is not a valid URL: {exc}") from None
    return host, port or (443 if parts.scheme == "https" else 80)


def _refuse_plain_http(url: str) -> None:
    # After every other check of the URL's own, so that a PrivateEndpointError is a
    # refusal the setting lifts whole: 'http://user:pw@host' is refused for its
    # credentials, which the setting does not allow either.
    if urlsplit(url).scheme == "http":
        raise PrivateEndpointError("https is required here: the URL uses plain http")


def _resolve(host: str, port: int) -> list[str]:
    """The host's addresses, each once, in the resolver's order of preference."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EndpointUrlError(f"the host '{host}' does not resolve: {exc}") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _refuse_private(host: str, addresses: list[str]) -> None:
    private = [a for a in addresses if not is_public_address(a)]
    if private:
        raise PrivateEndpointError(
            f"the host '{host}' resolves to a non-public address ({', '.join(private)}); "
            "endpoints must be reachable on the public internet"
        )


def _hold_to_syntax(url: str) -> None:
    """``URL_SYNTAX``, for a URL ``_parts`` took: what it refuses there is in the host or
    the port (scheme, credentials and fragment were refused with their reasons). Only a
    new URL is held to it: one already saved is sent to as before."""
    if _URL.fullmatch(url):
        return
    authority = _AUTHORITY.fullmatch(urlsplit(url).netloc)
    assert authority is not None  # every text matches it
    host, port = authority.groups()
    if not re.fullmatch(_HOST, host):
        if not host.isascii():
            raise EndpointUrlError(
                f"the host '{host}' is not ASCII: give an internationalized name in its "
                "IDNA form (xn--...)"
            )
        raise EndpointUrlError(
            f"the host '{host}' is not a host name (letters, digits and hyphens, in labels "
            "separated by dots, one not all digits), an IPv4 address of four numbers, or "
            "an IPv6 address in brackets"
        )
    if port is not None and not re.fullmatch(_PORT, port):
        raise EndpointUrlError(
            f"the URL's port must be a number from 1 to 65535 without leading zeros, not '{port}'"
        )
    raise EndpointUrlError(f"'{masked(url)}' is not a valid URL")


def check_endpoint_url(url: str, *, allow_private: bool) -> str:
    """The URL, trimmed (``model.spaces``), if the service may send to it; else
    ``EndpointUrlError``."""
    url = trim(url)
    host, port = _parts(url, allow_private)
    _hold_to_syntax(url)
    if not allow_private:
        _refuse_plain_http(url)
        _refuse_private(host, _resolve(host, port))
    return url


class AddressGuard(httpcore2.AsyncNetworkBackend):
    """The send-time check, made on the connection itself: the sender's connections are
    opened through it, and it resolves the host once, refuses it if any address is not
    public, and connects only to the addresses it checked. Checked before the attempt,
    with the connection then looking the name up again (as it was), a name could answer
    a public address to the check and a private one to the connection (DNS rebinding)."""

    def __init__(self, *, allow_private: bool, resolvers: int = RESOLVERS) -> None:
        self._allow_private = allow_private
        self._backend = httpcore2.AnyIOBackend()
        # Lookups on threads of their own: on the loop's default executor (6 threads on 2
        # cores), receivers' names whose DNS hangs would take every thread, and the
        # dispatcher's store calls, which run there, would wait for them (no claim, no
        # settle: a batch's claims lapse, its deliveries are sent again elsewhere).
        self._resolvers = ThreadPoolExecutor(resolvers, thread_name_prefix="webhook-resolve")

    def close(self) -> None:
        """Let the lookup threads go (a lookup under way ends on its own)."""
        self._resolvers.shutdown(wait=False, cancel_futures=True)

    def refusal(self, url: str) -> EndpointUrlError | None:
        """Why the URL must not be sent to (its scheme, credentials, ...), or ``None``;
        its addresses are checked as it is connected to."""
        try:
            _parts(url, self._allow_private)
            if not self._allow_private:
                _refuse_plain_http(url)
        except EndpointUrlError as exc:
            return exc
        return None

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        """A connection to the first of the host's addresses that answers; raises
        ``EndpointUrlError`` when one of them is not public."""
        addresses = [host]
        if not self._allow_private:
            loop = asyncio.get_running_loop()
            addresses = await loop.run_in_executor(self._resolvers, _resolve, host, port)
            _refuse_private(host, addresses)
        failed: httpcore2.ConnectError | httpcore2.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._backend.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failed = exc
        assert failed is not None  # getaddrinfo answers an address or raises
        raise failed

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)
