"""The client's address, for per-address rate limits (login) and the audit log.

Trust assumption: API processes listen on loopback (or a private network) and only Envoy
reaches them. Envoy is configured with `use_remote_address: true`, so it appends the
address of the connection it accepted to X-Forwarded-For; the LAST entry is therefore the
one our own proxy wrote, while every earlier entry came from the client and may be forged.
X-Forwarded-For is read only when the direct peer is a trusted proxy
(PAYGATE_TRUSTED_PROXIES, loopback by default); anyone else is known by their own address.

Envoy also writes the address of the connection it accepted into CLIENT_ADDRESS_HEADER,
replacing any value a client sent. It is preferred to X-Forwarded-For when present:
for a client on loopback Envoy appends the host's own address to X-Forwarded-For instead
of the client's, so two local clients (127.0.0.1, 127.0.0.2) would look alike there,
and a per-key allow-list of loopback ranges could not tell them apart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import unquote

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[IpNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_networks(spec: str) -> tuple[IpNetwork, ...]:
    """ "127.0.0.1/32, 10.0.0.0/8" -> networks; empty -> loopback."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    return tuple(ipaddress.ip_network(p, strict=False) for p in parts) or LOOPBACK


def peer_address(peer: str) -> str:
    """grpc's context.peer(): "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555", "unix:/path"."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return unquote(rest.rpartition(":")[0]).strip("[]")
    return kind  # "unix": a local process


# Envoy's connections to an API process are few and long-lived, and so are the addresses
# it reports: each distinct answer is worked out once, not parsed again on every call.
@lru_cache(maxsize=4096)
def _is_trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    if address == "unix":
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


# Set by Envoy on every request (envoy/envoy.yaml.tmpl, request_headers_to_add).
CLIENT_ADDRESS_HEADER = "x-paygate-client-address"


@lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    """The address in its canonical form, or "" when it is none."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        return ""


def client_address(
    peer: str, forwarded_for: str, trusted: Sequence[IpNetwork], proxy_says: str = ""
) -> str:
    direct = peer_address(peer)
    if not _is_trusted(direct, tuple(trusted)):
        return direct
    if proxy_says and (said := _canonical(proxy_says)):
        return said
    if not forwarded_for:
        return direct
    last = forwarded_for.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return direct


class ClientAddresses:
    """client_address() for one set of trusted proxies, as the API asks it on every call:
    each distinct (peer, X-Forwarded-For, proxy's header) is worked out once and then
    found by one dictionary lookup, not parsed again (the peer's address, the trusted
    networks' test, the forwarded address: `ipaddress` parses and a hash of every trusted
    network per call). The answer depends on those three strings alone, so a remembered
    one is the one client_address() would give; at most `size` are kept (all forgotten
    together when full: a spray of forged X-Forwarded-For values costs memory no more)."""

    def __init__(self, trusted: Sequence[IpNetwork], size: int = 4096) -> None:
        self._trusted = tuple(trusted)
        self._size = size
        self._known: dict[tuple[str, str, str], str] = {}

    def of(self, peer: str, forwarded_for: str, proxy_says: str = "") -> str:
        key = (peer, forwarded_for, proxy_says)
        known = self._known.get(key)
        if known is None:
            known = client_address(peer, forwarded_for, self._trusted, proxy_says)
            if len(self._known) >= self._size:
                self._known.clear()
            self._known[key] = known
        return known
