"""Per-key IP allow-lists: which networks parse, and which addresses they admit (the
use-cases: tests/unit/access/test_api_key_use_cases.py)."""

from __future__ import annotations

import pytest

from core.access import ip_allowlist
from core.shared.errors import InvalidArgument, Violations


def parsed(values: list[str]) -> tuple[tuple[str, ...], list[str]]:
    violations = Violations()
    networks = ip_allowlist.parse_allowed_ips(values, violations)
    try:
        violations.raise_if_any()
    except InvalidArgument as error:
        return networks, [v.field for v in error.violations]
    return networks, []


def test_networks_are_normalized_and_deduplicated() -> None:
    assert parsed(["127.0.0.1", " 10.1.0.0/16", "127.0.0.1/32", "::1"]) == (
        ("127.0.0.1/32", "10.1.0.0/16", "::1/128"),
        [],
    )


@pytest.mark.parametrize("bad", ["", "nope", "10.0.0.1/8", "300.1.1.1", "10.0.0.0/33", "1.2.3"])
def test_a_bad_network_is_named_by_its_index(bad: str) -> None:
    assert parsed(["127.0.0.1", bad])[1] == ["allowed_ips[1]"]


def test_too_many_networks_are_refused() -> None:
    many = [f"10.0.{i}.0/24" for i in range(ip_allowlist.MAX_NETWORKS + 1)]
    assert parsed(many)[1] == ["allowed_ips"]


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("::ffff:127.0.0.1", True),  # an IPv4 client seen on a dual-stack socket
        ("10.2.3.4", True),
        ("unix", False),
        ("", False),
    ],
)
def test_allows_only_addresses_inside_a_range(origin: str, allowed: bool) -> None:
    assert ip_allowlist.allows(("127.0.0.1/32", "10.0.0.0/8"), origin) is allowed


def test_no_networks_means_anywhere() -> None:
    assert ip_allowlist.allows((), "unix")
