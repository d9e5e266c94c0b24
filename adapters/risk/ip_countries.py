"""The shopper's country from their IP address: a table of networks read from a CSV file
(`network,country` per line, e.g. `203.0.113.0/24,DE`; `#` starts a comment), such as an
export of a GeoIP database. Without one every address is of unknown country, and the
country_mismatch rule never fires.

A linear scan: enough for a table of a few thousand networks. A full GeoIP database wants
a real lookup structure behind the same port (core.risk.ports.IpCountries)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from adapters.risk.rules_file import RulesFileError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class IpCountryTable:
    def __init__(self, rows: list[tuple[Network, str]]) -> None:
        # Longest prefix first, so that a more specific network wins.
        self._rows = sorted(rows, key=lambda row: -row[0].prefixlen)

    @classmethod
    def from_file(cls, path: Path) -> IpCountryTable:
        rows: list[tuple[Network, str]] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise RulesFileError(f"{path}: cannot be read ({error})") from None
        for number, line in enumerate(lines, start=1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            network, _, country = (part.strip() for part in text.partition(","))
            try:
                parsed = ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise RulesFileError(
                    f"{path}: line {number}: {network!r} is not a network"
                ) from None
            if len(country) != 2 or not country.isalpha():
                raise RulesFileError(f"{path}: line {number}: {country!r} is not a country code")
            rows.append((parsed, country.upper()))
        return cls(rows)

    def country_of(self, ip: str) -> str:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return ""
        for network, country in self._rows:
            if address.version == network.version and address in network:
                return country
        return ""
