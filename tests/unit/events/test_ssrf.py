"""The SSRF policy: hostile URL forms refused before any connection is made.

Nothing here opens a socket: host names resolve through a fake resolver, so the policy
is shown on the addresses a hostile DNS would answer, and literal addresses never leave
the process.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest

from core.events.ssrf import UrlGuard, UrlPolicy, UrlRefused, parse_networks, parse_url


class FakeResolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int) -> Sequence[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError("no such host")
        return self.answers[host]


HOSTILE_DNS = {
    "rebind.example.com": ["169.254.169.254"],
    "internal.example.com": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.1"],
    "v6local.example.com": ["fd00::1"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "loop.example.com": ["127.0.0.1"],
}

HOSTILE_URLS = [
    # loopback, every spelling
    "http://127.0.0.1/hook",
    "http://127.0.0.2:8080/hook",
    "http://127.1/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://017700000001/hook",
    "http://127.0.0.1./hook",
    "http://[::1]/hook",
    "http://[0:0:0:0:0:0:0:1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::127.0.0.1]/hook",
    "http://[2002:7f00:1::]/hook",
    "http://localhost/hook",
    "http://LOCALHOST:3000/hook",
    "http://api.localhost/hook",
    # unspecified
    "http://0.0.0.0/hook",
    "http://0/hook",
    "http://[::]/hook",
    # RFC 1918
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.255/hook",
    "http://192.168.0.1/hook",
    "http://0xc0a80001/hook",
    "http://3232235521/hook",
    "http://[::ffff:10.1.2.3]/hook",
    # link-local and the metadata service
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9fea9fe/latest/meta-data/",
    "http://2852039166/latest/meta-data/",
    "http://0251.0376.0251.0376/",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[fe80::1]/hook",
    # CGNAT, ULA, site-local, multicast, broadcast, reserved, documentation
    "http://100.64.0.1/hook",
    "http://[fd12:3456::1]/hook",
    "http://[fc00::1]/hook",
    "http://[fec0::1]/hook",
    "http://224.0.0.1/hook",
    "http://[ff02::1]/hook",
    "http://255.255.255.255/hook",
    "http://240.0.0.1/hook",
    "http://192.0.2.10/hook",
    "http://198.18.0.1/hook",
    # names that only mean a local network
    "http://printer.local/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://router.home.arpa/",
    "http://intranet/hook",
    # names a hostile DNS points inside
    "http://rebind.example.com/hook",
    "http://internal.example.com/hook",
    "http://mixed.example.com/hook",
    "http://v6local.example.com/hook",
    "http://mapped.example.com/hook",
    "http://loop.example.com/hook",
    "http://unresolvable.example.com/hook",
    # not a webhook URL at all
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "gopher://example.com:70/",
    "http://user:password@example.com/hook",
    "http://example.com@127.0.0.1/hook",
    "http://[::1/hook",
    "http://999.1.1.1/hook",
    "http://08.0.0.1/hook",
    "http://exa mple.com/hook",
    "http://example.com\\@127.0.0.1/",
    "",
]


def guard(allowed: str = "") -> tuple[UrlGuard, FakeResolver]:
    resolver = FakeResolver(HOSTILE_DNS | {"hooks.example.com": ["93.184.216.34"]})
    return UrlGuard(UrlPolicy(parse_networks(allowed)), resolver), resolver


def test_the_matrix_is_large() -> None:
    assert len(HOSTILE_URLS) >= 40
    assert len(set(HOSTILE_URLS)) == len(HOSTILE_URLS)


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_a_hostile_url_is_refused(url: str) -> None:
    checker, _ = guard()
    with pytest.raises(UrlRefused):
        await checker.check(url, livemode=False)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.2/hook", "http://[::1]/hook", "http://0x7f000002/"]
)
async def test_loopback_outside_the_allowed_network_is_still_refused(url: str) -> None:
    checker, _ = guard("127.0.0.1/32")
    with pytest.raises(UrlRefused):
        await checker.check(url, livemode=False)


async def test_an_allowed_network_is_reachable_in_any_spelling() -> None:
    checker, _ = guard("127.0.0.1/32")
    for url in (
        "http://127.0.0.1:8080/hook",
        "http://2130706433:8080/",
        "http://[::ffff:127.0.0.1]/",
    ):
        destination = await checker.check(url, livemode=False)
        assert destination.address in (
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::ffff:127.0.0.1"),
        )


async def test_a_public_host_resolves_to_the_address_that_is_connected_to() -> None:
    checker, resolver = guard()
    destination = await checker.check("https://hooks.example.com:8443/p?q=1", livemode=True)
    assert str(destination.address) == "93.184.216.34"
    assert destination.url.host == "hooks.example.com"
    assert destination.url.port == 8443 and destination.url.target == "/p?q=1"
    assert resolver.asked == ["hooks.example.com"]


async def test_live_mode_wants_https() -> None:
    checker, _ = guard()
    with pytest.raises(UrlRefused, match="https"):
        await checker.check("http://hooks.example.com/", livemode=True)


async def test_literal_addresses_never_ask_dns() -> None:
    checker, resolver = guard()
    with pytest.raises(UrlRefused):
        await checker.check("http://169.254.169.254/", livemode=False)
    assert resolver.asked == []


def test_refusals_become_invalid_argument_naming_url() -> None:
    with pytest.raises(UrlRefused) as refused:
        parse_url("ftp://example.com/", livemode=False)
    error = refused.value.to_invalid_argument()
    assert error.violations[0].field == "url"
    assert error.reason == "WEBHOOK_URL_NOT_ALLOWED"
