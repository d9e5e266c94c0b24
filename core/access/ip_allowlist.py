"""Per-key IP allow-lists: the networks a secret key may be used from.

A key with no networks may be used from anywhere (the default). The client's address is
the one the transport established (servers/grpc/client_address.py: Envoy's
X-Forwarded-For entry, believed only from a trusted proxy); a key used from elsewhere is
refused with PERMISSION_DENIED and the refusal is audited.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from core.shared.errors import Violations

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FIELD = "allowed_ips"
# Enough for a merchant's egress ranges; a longer list is a sign of a mistake.
MAX_NETWORKS = 50


def parse_allowed_ips(values: Iterable[str], violations: Violations) -> tuple[str, ...]:
    """Normalized CIDRs ("10.0.0.7" -> "10.0.0.7/32"), in order, without duplicates.

    Host bits must be zero ("10.0.0.1/8" is refused: it reads as a typo for a host)."""
    networks: list[str] = []
    items = list(values)
    if len(items) > MAX_NETWORKS:
        violations.add(FIELD, f"may hold at most {MAX_NETWORKS} networks")
        return ()
    for index, raw in enumerate(items):
        text = raw.strip()
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError:
            violations.add(
                f"{FIELD}[{index}]", "must be an IPv4 or IPv6 address or CIDR, e.g. 203.0.113.0/24"
            )
            continue
        if str(network) not in networks:
            networks.append(str(network))
    return tuple(networks)


@lru_cache(maxsize=4096)
def _networks(allowed: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    # Keyed by the stored tuple: parsed once per distinct list, not once per request.
    return tuple(ipaddress.ip_network(n) for n in allowed)


def allows(allowed: tuple[str, ...], origin: str) -> bool:
    """Whether `origin` may use a key restricted to `allowed` (empty: anywhere)."""
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(origin)
    except ValueError:  # "unix" or nothing: no address to match, so not inside any range
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in _networks(allowed))
