"""Which webhook URLs paygate may call: the SSRF policy, pure.

A merchant chooses the URL; paygate's workers make the request from inside the
platform's network. Left unchecked, a URL could reach the cloud metadata service, a
database, an admin port. So every URL is checked when the endpoint is created or changed
and again before every attempt (DNS changes), and the request goes to the very address
that was checked (adapters/webhooks/http_sender.py connects to it and sends the original
host name as Host and TLS SNI): no second resolution, no DNS rebinding.

Refused, unless an operator allows the network (PAYGATE_WEBHOOK_ALLOWED_NETWORKS):
loopback, RFC 1918, link-local (169.254/16: the metadata address), CGNAT (100.64/10),
"this network" (0/8), benchmarking, documentation and reserved ranges, broadcast,
multicast, unspecified; IPv6 loopback, ULA (fc00::/7), link- and site-local, multicast;
and each of those hidden inside IPv6 (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible,
6to4 2002::/16, NAT64 64:ff9b::/96, Teredo 2001::/32) or written as a decimal, octal,
hex or shortened IPv4 (2130706433, 0177.0.0.1, 0x7f.1, 127.1). Names that only ever mean
this machine or its network (localhost, *.localhost, *.local, *.internal, *.home.arpa)
are refused without asking DNS. Only http and https; https only in live mode; no
credentials in the URL.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from core.shared.errors import InvalidArgument

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
URL_NOT_ALLOWED = "WEBHOOK_URL_NOT_ALLOWED"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
# Everything that is not the public internet, whatever Python's is_global says.
_FORBIDDEN: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/8"), "this network"),
    (_V4("10.0.0.0/8"), "private (RFC 1918)"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local (cloud metadata)"),
    (_V4("172.16.0.0/12"), "private (RFC 1918)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private (RFC 1918)"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("fc00::/7"), "unique local (ULA)"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local"),
    (_V6("ff00::/8"), "multicast"),
)
_NAT64 = (_V6("64:ff9b::/96"), _V6("64:ff9b:1::/48"))
_LOCAL_NAMES = ("localhost", "local", "internal", "home.arpa", "localdomain")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOST_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


class UrlRefused(Exception):
    """The URL or the address it resolves to is not one paygate calls."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why

    def to_invalid_argument(self) -> InvalidArgument:
        return InvalidArgument.field("url", self.why, reason=URL_NOT_ALLOWED)


@dataclass(frozen=True)
class WebhookUrl:
    url: str  # as the merchant gave it
    scheme: str  # http | https
    host: str  # lower case, without brackets or a trailing dot
    port: int
    target: str  # path and query, at least "/"
    literal: IPAddress | None  # the host when it is an address in any notation


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: WebhookUrl
    address: IPAddress


class Resolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[str]:
        """The addresses of `host` (A and AAAA). Raises OSError when it has none."""
        ...


def parse_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address written any way inet_aton(3) accepts it (what many HTTP stacks
    hand to the OS): 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last
    one filling the remaining bytes. None when `host` is not such a form. Raises
    UrlRefused when it looks numeric but is out of range (never guessed at)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part.startswith("0x"):
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                raise UrlRefused(f"{host!r} is not a valid address")
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        raise UrlRefused(f"{host!r} is not a valid address")
    value = 0
    for v in head:
        value = value * 256 + v
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


def parse_address(host: str) -> IPAddress | None:
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRefused(f"{host!r} is not a valid address") from None
    return parse_ipv4(host)


def parse_url(url: str, *, livemode: bool) -> WebhookUrl:
    """The URL's parts, or UrlRefused saying what is wrong with it."""
    if not url:
        raise UrlRefused("is required")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused(f"may be at most {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        raise UrlRefused("may not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlRefused(f"is not a valid URL ({error})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("must be an http or https URL")
    if livemode and scheme != "https":
        raise UrlRefused("must be https in live mode")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("may not carry credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("must name a host")
    literal = parse_address(host)
    if literal is None:
        if not host.isascii() or not all(_HOST_LABEL.match(label) for label in host.split(".")):
            raise UrlRefused(f"{host!r} is not a valid host name")
        if host in _LOCAL_NAMES or any(host.endswith("." + n) for n in _LOCAL_NAMES):
            raise UrlRefused(f"{host!r} names a local network")
        if "." not in host:
            raise UrlRefused(f"{host!r} is not a fully qualified host name")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return WebhookUrl(
        url=url,
        scheme=scheme,
        host=host,
        port=port if port is not None else (443 if scheme == "https" else 80),
        target=target,
        literal=literal,
    )


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in net for net in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    packed = int(address)
    if packed >> 32 == 0 and packed > 1:  # IPv4-compatible ::a.b.c.d (deprecated)
        return ipaddress.IPv4Address(packed)
    return None


def forbidden_because(address: IPAddress) -> str | None:
    """Why paygate never calls this address, or None for a public one."""
    for candidate in (embedded_ipv4(address), address):
        if candidate is None:
            continue
        for network, why in _FORBIDDEN:
            if candidate.version == network.version and candidate in network:
                return why
        if not candidate.is_global:
            return "not a public address"
    return None


class UrlPolicy:
    """The pure checks, with the operator's allowed networks."""

    def __init__(self, allowed_networks: Iterable[IPNetwork] = ()) -> None:
        self.allowed = tuple(allowed_networks)

    def _allowed(self, address: IPAddress) -> bool:
        inner = embedded_ipv4(address)
        return any(
            c is not None and c.version == n.version and c in n
            for n in self.allowed
            for c in (address, inner)
        )

    def check_address(self, host: str, address: IPAddress) -> None:
        if self._allowed(address):
            return
        why = forbidden_because(address)
        if why is not None:
            shown = host if host == str(address) else f"{host} ({address})"
            raise UrlRefused(f"{shown} is {why}: paygate does not call it")

    def choose(self, url: WebhookUrl, addresses: Sequence[str]) -> Destination:
        """The address to connect to, when every address the host has is allowed."""
        if not addresses:
            raise UrlRefused(f"{url.host!r} has no address")
        parsed = []
        for text in addresses:
            try:
                parsed.append(ipaddress.ip_address(text.split("%", 1)[0]))
            except ValueError:
                raise UrlRefused(f"{url.host!r} resolved to {text!r}") from None
        for address in parsed:  # one bad address refuses them all: no lottery
            self.check_address(url.host, address)
        return Destination(url, parsed[0])


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """PAYGATE_WEBHOOK_ALLOWED_NETWORKS: CIDRs separated by commas."""
    return tuple(
        ipaddress.ip_network(p.strip(), strict=False) for p in text.split(",") if p.strip()
    )


class UrlGuard:
    """The policy with DNS: what creation and every attempt call."""

    def __init__(self, policy: UrlPolicy, resolver: Resolver) -> None:
        self.policy = policy
        self._resolver = resolver

    async def check(self, url: str, *, livemode: bool) -> Destination:
        parsed = parse_url(url, livemode=livemode)
        if parsed.literal is not None:
            return self.policy.choose(parsed, [str(parsed.literal)])
        try:
            addresses = await self._resolver.resolve(parsed.host, parsed.port)
        except OSError:
            raise UrlRefused(f"{parsed.host!r} could not be resolved") from None
        return self.policy.choose(parsed, addresses)
