"""The SSRF guard on endpoint URLs. IP literals and ``localhost`` only: no DNS."""

from __future__ import annotations

import contextlib
import re
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producersync.model.spaces import trim
from producersync.service.api.webhook_models import EndpointCreate
from producersync.service.delivery.urls import (
    AddressGuard,
    EndpointUrlError,
    PrivateEndpointError,
    check_endpoint_url,
    is_public_address,
)

PUBLIC = "https://93.184.216.34/hook"
_REAL_GETADDRINFO = socket.getaddrinfo
DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=300)


@pytest.mark.parametrize(
    "url",
    [
        PUBLIC,
        "https://93.184.216.34:8443/hooks/producersync?x=1",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
        "https://1.1.1.1",
        "https://[64:ff9b::5db8:d70e]/hook",  # NAT64 of a public IPv4
        "https://[2002:5db8:d70e::1]/hook",  # 6to4 of a public IPv4
    ],
)
def test_https_to_a_public_address_is_accepted(url: str) -> None:
    assert check_endpoint_url(url, allow_private=False) == url
    assert check_endpoint_url(f"  {url}\n", allow_private=False) == url  # stripped


@pytest.mark.parametrize(
    ("url", "allow_private", "says"),
    [
        ("http://93.184.216.34/hook", False, "https is required here: the URL uses plain http"),
        # Not "must use https" where http is allowed too: the scheme is no web one.
        ("ftp://93.184.216.34/hook", True, "the URL's scheme must be http or https, not 'ftp'"),
        ("javascript:alert(1)", True, "the URL's scheme must be http or https, not 'javascript'"),
        ("javascript:alert(1)", False, "the URL's scheme must be https, not 'javascript'"),
        ("93.184.216.34/hook", True, "the URL has no scheme: give it as an http or https URL"),
    ],
)
def test_a_refused_scheme_is_said_as_what_is_wrong_with_it(
    url: str, allow_private: bool, says: str
) -> None:
    with pytest.raises(EndpointUrlError) as refused:
        check_endpoint_url(url, allow_private=allow_private)
    assert str(refused.value) == says


def test_http_is_accepted_where_private_endpoints_are_allowed() -> None:
    assert check_endpoint_url("http://127.0.0.1:8080/x", allow_private=True) == (
        "http://127.0.0.1:8080/x"
    )
    assert check_endpoint_url("https://10.0.0.5/x", allow_private=True) == "https://10.0.0.5/x"


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pw@127.0.0.1/x",
        "http://127.0.0.1/x#frag",
        "http://127.0.0.1:0/x",
        "http:///x",
        "http://a..b/x",  # the spec's syntax
    ],
)
def test_plain_http_is_refused_only_where_the_setting_would_take_the_url(url: str) -> None:
    """A PrivateEndpointError is a refusal allow_private_endpoints lifts whole (the CLI
    names the setting for it): a URL refused with the setting on is refused for the
    same reason with it off, not for its plain http."""
    with pytest.raises(EndpointUrlError) as lenient:
        check_endpoint_url(url, allow_private=True)
    with pytest.raises(EndpointUrlError) as strict:
        check_endpoint_url(url, allow_private=False)
    assert (type(strict.value), str(strict.value)) == (EndpointUrlError, str(lenient.value))


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1"),
        ("https://127.8.9.10/hook", "127.8.9.10"),
        ("https://10.1.2.3/hook", "10.1.2.3"),
        ("https://172.16.0.1/hook", "172.16.0.1"),
        ("https://192.168.1.1:8443/hook", "192.168.1.1"),
        ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),  # cloud metadata
        ("https://100.64.0.1/hook", "100.64.0.1"),  # carrier-grade NAT
        ("https://0.0.0.0/hook", "0.0.0.0"),
        ("https://224.0.0.1/hook", "224.0.0.1"),  # multicast
        ("https://[::1]/hook", "::1"),
        ("https://[fd12:3456::1]/hook", "fd12:3456::1"),  # unique local
        ("https://[fe80::1]/hook", "fe80::1"),  # link-local
        ("https://[::ffff:10.0.0.1]/hook", "::ffff:10.0.0.1"),  # IPv4-mapped private
        ("https://[::ffff:127.0.0.1]/hook", "::ffff:127.0.0.1"),
        # IPv6 that carries a private IPv4 through a translator or tunnel.
        ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data", "64:ff9b::a9fe:a9fe"),  # NAT64
        ("https://[64:ff9b::a00:1]/hook", "64:ff9b::a00:1"),
        ("https://[64:ff9b:1::5db8:d70e]/hook", "64:ff9b:1::5db8:d70e"),  # local-use NAT64
        ("https://[2002:7f00:1::]/hook", "2002:7f00:1::"),  # 6to4
        ("https://[::127.0.0.1]/hook", "::127.0.0.1"),  # IPv4-compatible
        # Special-purpose blocks Python calls global.
        ("https://192.0.0.9/hook", "192.0.0.9"),  # PCP anycast: the local gateway
        ("https://192.88.99.1/hook", "192.88.99.1"),  # 6to4 relay anycast
        ("https://[2002:c058:6301::1]/hook", "2002:c058:6301::1"),  # 6to4 of that relay
        ("https://[fec0::1]/hook", "fec0::1"),  # site-local
        ("https://[::ffff:192.0.0.100]/hook", "::ffff:192.0.0.100"),
    ],
)
def test_non_public_addresses_are_refused_naming_the_address(url: str, address: str) -> None:
    with pytest.raises(EndpointUrlError) as caught:
        check_endpoint_url(url, allow_private=False)
    assert address in str(caught.value)
    assert "non-public" in str(caught.value)


def test_localhost_is_refused() -> None:
    with pytest.raises(EndpointUrlError, match="non-public"):
        check_endpoint_url("https://localhost/hook", allow_private=False)


def test_a_numeric_host_spelling_of_loopback_is_refused() -> None:
    # 2130706433 is 127.0.0.1; the resolver decodes it without DNS (or fails): never accepted.
    with pytest.raises(EndpointUrlError):
        check_endpoint_url("https://2130706433/hook", allow_private=False)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://user:pw@93.184.216.34/hook", "credentials"),
        ("https://user@93.184.216.34/hook", "credentials"),
        ("https://:pw@93.184.216.34/hook", "credentials"),
        ("https://93.184.216.34/hook#part", "fragment"),
        ("https://93.184.216.34:0/hook", "not 0"),
        ("https://93.184.216.34/" + "a" * 2048, "longer than 2048"),
        ("https:///hook", "no host"),
        ("https://", "no host"),
        ("https://:443/hook", "no host"),
        ("not a url", "https"),
        ("", "https"),
        ("93.184.216.34/hook", "https"),
        ("https://[::1/hook", "not a valid URL"),
        ("https://93.184.216.34:99999/hook", "not a valid URL"),
        ("https://93.184.216.34:port/hook", "not a valid URL"),
    ],
)
@pytest.mark.parametrize("allow_private", [False, True])
def test_malformed_urls_are_refused(url: str, why: str, allow_private: bool) -> None:
    with pytest.raises(EndpointUrlError, match=why):
        check_endpoint_url(url, allow_private=allow_private)


def test_the_length_limit_is_inclusive() -> None:
    base = "https://93.184.216.34/"
    longest = base + "a" * (2048 - len(base))
    assert check_endpoint_url(longest, allow_private=False) == longest
    with pytest.raises(EndpointUrlError):
        check_endpoint_url(longest + "a", allow_private=False)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("::ffff:93.184.216.34", True),
        ("8.8.8.8", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("100.64.0.1", False),
        ("100.127.255.254", False),
        ("169.254.1.1", False),
        ("192.0.2.1", False),  # documentation
        ("::1", False),
        ("fc00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:192.168.0.1", False),
        ("ff02::1", False),
        ("239.255.255.250", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "address",
    [
        # IPv4: IETF protocol assignments (PCP, TURN anycast), AS112, AMT, 6to4 relays.
        "192.0.0.8",
        "192.0.0.9",
        "192.0.0.10",
        "192.0.0.100",
        "192.0.0.255",
        "192.31.196.1",
        "192.52.193.1",
        "192.88.99.1",
        "192.88.99.2",
        "192.175.48.1",
        # IPv6: IETF protocol assignments (anycast, AMT, AS112, ORCHIDv2, DRIP).
        "2001:1::1",
        "2001:1::2",
        "2001:1::3",
        "2001:3::1",
        "2001:4:112::1",
        "2001:20::1",
        "2001:30::1",
        "2001:1ff:ffff::1",
        "2620:4f:8000::1",  # AS112 direct delegation
        "3fff::1",  # documentation
        "3fff:fff:ffff::1",
        # Outside 2000::/3: reserved, whatever Python says.
        "fec0::1",  # site-local
        "feff::1",
        "5f00::1",  # SRv6 SIDs
        "100:0:0:1::1",  # dummy prefix
        "4000::1",
        "e000::1",
        "::5db8:d70e",  # IPv4-compatible, of a public IPv4
        # The same, reached through a translator or tunnel.
        "::ffff:192.0.0.9",
        "64:ff9b::c058:6301",  # NAT64 of 192.88.99.1
        "2002:c000:0009::1",  # 6to4 of 192.0.0.9
    ],
)
def test_special_purpose_addresses_python_calls_global_are_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize(
    "address", ["192.0.1.1", "192.88.100.1", "192.175.49.1", "2001:200::1", "3fff:1000::1"]
)
def test_the_special_purpose_blocks_end_where_iana_ends_them(address: str) -> None:
    assert is_public_address(address) is True


def _numeric_only(
    host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> Any:
    """getaddrinfo without DNS: numeric hosts resolve, names fail as unknown would."""
    return _REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


@DETERMINISTIC
@given(st.text())
def test_arbitrary_text_raises_only_endpoint_url_error(text: str) -> None:
    for allow_private in (False, True):
        with contextlib.suppress(EndpointUrlError):
            check_endpoint_url(text, allow_private=allow_private)


_hosts = st.one_of(
    st.text(),
    st.ip_addresses().map(lambda ip: f"[{ip}]" if ip.version == 6 else str(ip)),
    st.from_regex(r"[a-z0-9.\-\[\]:%@]{0,80}", fullmatch=True),
)


@DETERMINISTIC
@given(
    scheme=st.sampled_from(["https", "http", "HTTPS", "ftp", ""]),
    host=_hosts,
    rest=st.text(max_size=30),
)
def test_url_shaped_text_raises_only_endpoint_url_error(scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}://{host}{rest}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", _numeric_only)
        for allow_private in (False, True):
            try:
                got = check_endpoint_url(url, allow_private=allow_private)
            except EndpointUrlError:
                continue
            assert got == trim(url)
            assert got.lower().startswith("https://") or allow_private
            # What the spec's pattern refuses, a client validating by it refuses too, and
            # the schema fuzz sends expecting a 4xx: the rules took '208.250.0.5*'.
            assert re.fullmatch(_SPEC_URL["pattern"], got), got
            assert re.fullmatch(_SPEC_URL["pattern"], url), url


_SPEC_URL = EndpointCreate.model_json_schema()["properties"]["url"]


@pytest.mark.parametrize("host", ["00.0.0.0", "0.0.0.00", "01.2.3.4", "1.2.3.256"])
def test_the_spec_refuses_the_four_number_hosts_that_are_no_ipv4_address(host: str) -> None:
    # The spec admitted them, the rules refuse them: the schema fuzz sent one now and then
    # and failed on the 400 (a schema-valid request rejected).
    url = f"http://{host}/hook"
    with pytest.raises(EndpointUrlError, match="Invalid IPv4"):
        check_endpoint_url(url, allow_private=True)
    assert not re.match(_SPEC_URL["pattern"], url)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://208.250.0.5*", "the host '208.250.0.5\\*' is not a host name"),
        ("https://a_b.example/", "the host 'a_b.example' is not a host name"),
        ("https://a..b/", "the host 'a..b' is not a host name"),
        ("https://1.2.3/", "the host '1.2.3' is not a host name .* one not all digits"),
        ("https://123/", "the host '123' is not a host name"),
        ("https://a.example:0123/", "port must be a number from 1 to 65535 .*, not '0123'"),
        ("https://a.example:/x", "port must be a number from 1 to 65535 .*, not ''"),
        # Space to Python, not trimmed: the spec's space is ASCII's (model/spaces.py).
        ("\u3000https://a.example/", "the URL begins with U\\+3000, a space"),
        ("\ufeffhttps://a.example/", "the URL begins with U\\+FEFF, a space or invisible"),
    ],
)
def test_a_url_the_spec_refuses_is_refused_naming_its_part(url: str, why: str) -> None:
    with pytest.raises(EndpointUrlError, match=why):
        check_endpoint_url(url, allow_private=True)
    assert not re.match(_SPEC_URL["pattern"], url)


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example:65535/hook",
        "https://a.example:10000/hook",
        "https://[2001:db8::1]:8443/hook",
        "https://[::ffff:1.2.3.4]/hook",
        "HTTPS://A.Example./hook",
        " https://a.example/hook\n",
        "\vhttps://a.example/\t",
    ],
)
def test_the_spec_admits_the_urls_the_rules_take(url: str) -> None:
    # Ports of 10000 and up, IPv6 addresses, an upper-case scheme and outer ASCII spaces
    # (trimmed) were taken by the rules and refused by the spec's pattern.
    assert check_endpoint_url(url, allow_private=True) == trim(url)
    assert re.fullmatch(_SPEC_URL["pattern"], url)


@DETERMINISTIC
@given(st.from_regex(_SPEC_URL["pattern"], fullmatch=True))
def test_every_url_the_spec_admits_passes_the_rules(url: str) -> None:
    if len(url) <= _SPEC_URL["maxLength"]:
        assert check_endpoint_url(url, allow_private=True) == trim(url)


def test_the_send_time_guard_refuses_by_the_url_alone() -> None:
    # The addresses are checked as the attempt connects (test_sender.py).
    guard = AddressGuard(allow_private=False)
    assert guard.refusal(PUBLIC) is None
    assert guard.refusal("https://hooks.example.invalid/hook") is None  # no lookup here
    bad = guard.refusal("http://93.184.216.34/hook")
    assert isinstance(bad, PrivateEndpointError) and "https" in str(bad)
    # Refused whatever allow_private says: not one the setting would let through.
    assert type(guard.refusal("https://user:pw@93.184.216.34/")) is EndpointUrlError
    assert type(guard.refusal("http://user:pw@93.184.216.34/")) is EndpointUrlError

    lenient = AddressGuard(allow_private=True)
    assert lenient.refusal("http://127.0.0.1:8080/hook") is None
    assert lenient.refusal("https://127.0.0.1/hook#frag") is not None


def _resolving_to(address: str, asked: list[str]) -> Any:
    """getaddrinfo without DNS: every name is ``address``; the names asked are noted."""

    def getaddrinfo(host: Any, port: Any, *_args: Any, **_kwargs: Any) -> Any:
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    return getaddrinfo


def test_an_internationalized_host_is_given_in_its_idna_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Python's IDNA 2003 reads 'ß.example' as ss.example; httpx2, which sends, reads it as
    # xn--zca.example: a new URL names its host as the sender connects to it, and the
    # spec's pattern (ASCII hosts) says so.
    asked: list[str] = []
    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to("93.184.216.34", asked))
    with pytest.raises(EndpointUrlError, match=r"'ß.example' is not ASCII: .* \(xn--...\)"):
        check_endpoint_url("https://ß.example/hook", allow_private=False)
    assert asked == []
    check_endpoint_url("https://xn--zca.example/hook", allow_private=False)
    assert asked == ["xn--zca.example"]


FULL_WIDTH_EXAMPLE = "\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45"


@pytest.mark.parametrize("host", ["ex\u00adample.com", f"{FULL_WIDTH_EXAMPLE}.com"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_a_host_the_sender_cannot_read_is_refused(
    monkeypatch: pytest.MonkeyPatch, host: str, allow_private: bool
) -> None:
    # Accepted (Python's IDNA maps the soft hyphen away, the full-width letters down), it
    # raised InvalidURL out of every attempt, and took each batch it was in down with it.
    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to("93.184.216.34", []))
    with pytest.raises(EndpointUrlError, match="not a valid URL"):
        check_endpoint_url(f"https://{host}/hook", allow_private=allow_private)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pw-1a2b3c@93.184.216.34:99999/hook",
        "https://user:pw-1a2b3c@93.184.216.34:port/hook",
        "https://user:pw-1a2b3c@[::1/hook",
        "https://user:pw-1a2b3c@/hook",
        "https://user:p@pw-1a2b3c@93.184.216.34:99999/hook",  # an "@" in the password
    ],
)
def test_a_refusal_that_quotes_the_url_hides_its_credentials(url: str) -> None:
    # The reason is shown by the API, the portal and the CLI, beside the masked value.
    with pytest.raises(EndpointUrlError) as caught:
        check_endpoint_url(url, allow_private=False)
    assert "pw-1a2b3c" not in str(caught.value)
    assert "'https://***@" in str(caught.value)
