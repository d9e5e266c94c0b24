"""TLS at Envoy: the development certificate, and the listeners' TLS configuration."""

from __future__ import annotations

import ipaddress
import json
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from servers.runtime import envoy_config
from servers.runtime.settings import Settings
from servers.runtime.tls import selfsigned
from tests.unit.test_envoy_config import SETTINGS


def test_selfsigned_writes_a_ca_and_a_loopback_certificate_it_signed(tmp_path: Path) -> None:
    files = selfsigned(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    assert not (tmp_path / "tls" / "ca-key.pem").exists()  # the CA signs nothing else


def _listener_tls(rendered: str) -> dict[str, list[str]]:
    found = {}
    for name, alpn in re.findall(
        r"- name: (rest|grpc)\n.*?transport_socket: (\{.*?\})\n", rendered, re.S
    ):
        found[name] = json.loads(alpn)["typed_config"]["common_tls_context"]["alpn_protocols"]
    return found


def test_with_a_certificate_both_listeners_serve_tls_with_alpn(tmp_path: Path) -> None:
    files = selfsigned(tmp_path)
    settings = replace(SETTINGS, tls_cert_file=str(files.cert), tls_key_file=str(files.key))
    rendered = envoy_config.render(settings, envoy_config.descriptor_path())
    assert _listener_tls(rendered) == {"rest": ["h2", "http/1.1"], "grpc": ["h2"]}
    assert "TLSv1_2" in rendered
    config = tmp_path / "envoy.yaml"
    config.write_text(rendered)
    envoy_config.validate(config)  # Envoy loads the certificate and key itself
    assert settings.rest_url.startswith("https://") and settings.web_url.startswith("https://")


def test_without_a_certificate_the_listeners_are_plain() -> None:
    rendered = envoy_config.render(SETTINGS, envoy_config.descriptor_path())
    assert rendered.count("transport_socket: null") == 2
    assert SETTINGS.rest_url.startswith("http://")


@pytest.mark.parametrize(
    "files",
    [{"tls_cert_file": "/nonexistent/cert.pem", "tls_key_file": "/nonexistent/key.pem"},
     {"tls_cert_file": __file__}],
)  # fmt: skip
def test_a_half_or_missing_pair_is_refused_before_envoy_starts(files: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="TLS"):
        envoy_config.render(replace(SETTINGS, **files), envoy_config.descriptor_path())


def test_tls_settings_come_from_the_environment() -> None:
    settings = Settings.from_env({"PAYGATE_TLS_CERT_FILE": "c.pem", "PAYGATE_TLS_KEY_FILE": "k"})
    assert (settings.tls_cert_file, settings.tls_key_file, settings.tls) == ("c.pem", "k", True)


def test_the_proxys_own_client_address_header_wins_over_forwarded_for() -> None:
    from servers.grpc.client_address import LOOPBACK, client_address

    envoy = "ipv4:127.0.0.1:40000"
    # Envoy appends the host's address to X-Forwarded-For for a loopback client.
    assert client_address(envoy, "192.0.2.2", LOOPBACK, "127.0.0.2") == "127.0.0.2"
    assert client_address(envoy, "192.0.2.2", LOOPBACK, "junk") == "192.0.2.2"
    # From a peer that is not a trusted proxy, neither header is believed.
    assert client_address("ipv4:10.1.1.1:5", "127.0.0.9", LOOPBACK, "127.0.0.2") == "10.1.1.1"


def test_envoy_overwrites_the_client_address_header_on_both_listeners() -> None:
    rendered = envoy_config.render(SETTINGS, envoy_config.descriptor_path())
    assert rendered.count('"key": "x-paygate-client-address"') == 2
    assert rendered.count("OVERWRITE_IF_EXISTS_OR_ADD") >= 2
