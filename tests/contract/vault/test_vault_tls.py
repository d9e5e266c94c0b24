"""Mutual TLS on the vault channel: with certificates from settings, callers without a
client certificate of the right CA cannot even connect; with one, the CardVault works."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from adapters.vault.grpc_client import GrpcVault
from core.shared.errors import Unavailable
from servers.bootstrap.vault import channel_credentials, server_credentials
from servers.roles.vault.server import start
from servers.runtime.settings import Settings
from tests.contract.vault.vault_helpers import VISA, card, make_harness

SERVICE_TOKEN = "tls-test-service-token-0123456789abcdefgh"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    folder: Path,
    name: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert, key


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca = _issue(tmp_path, "ca", None, ca=True)
    _issue(tmp_path, "vault", ca, server=True)
    _issue(tmp_path, "payments", ca)
    stranger_ca = _issue(tmp_path, "stranger-ca", None, ca=True)
    _issue(tmp_path, "stranger", stranger_ca)
    return tmp_path


async def test_only_callers_with_a_certificate_of_our_ca_reach_the_vault(
    pki: Path, sql_vault_uow: SqlVaultUnitOfWorkFactory
) -> None:
    vault_side = Settings(
        vault_tls_cert=str(pki / "vault.pem"),
        vault_tls_key=str(pki / "vault.key"),
        vault_tls_ca=str(pki / "ca.pem"),
    )
    hosted = make_harness(sql_vault_uow)
    server, _, port = await start(
        hosted.vault,
        "127.0.0.1:0",
        tokens=[SERVICE_TOKEN],
        credentials=server_credentials(vault_side),
    )
    token = await hosted.vault.tokenize_card(hosted.merchant, card())

    def caller(cert: str | None) -> Settings:
        return Settings(
            vault_tls_ca=str(pki / "ca.pem"),
            vault_tls_client_cert=str(pki / f"{cert}.pem") if cert else "",
            vault_tls_client_key=str(pki / f"{cert}.key") if cert else "",
        )

    try:
        for refused in (None, "stranger"):
            client = GrpcVault.connect(
                f"127.0.0.1:{port}",
                service_token=SERVICE_TOKEN,
                credentials=channel_credentials(caller(refused)),
                timeout_seconds=2,
            )
            try:
                with pytest.raises(Unavailable):
                    await client.card_for_payment(
                        hosted.merchant.merchant_id, token.id, livemode=False, purpose="p"
                    )
            finally:
                await client.aclose()
        client = GrpcVault.connect(
            f"127.0.0.1:{port}",
            service_token=SERVICE_TOKEN,
            credentials=channel_credentials(caller("payments")),
        )
        try:
            got = await client.card_for_payment(
                hosted.merchant.merchant_id, token.id, livemode=False, purpose="p"
            )
            assert got.card.number.reveal() == VISA
        finally:
            await client.aclose()
    finally:
        await server.stop(None)


def test_tls_settings_come_in_pairs(tmp_path: Path) -> None:
    from adapters.crypto.kek import KeyConfigError

    assert server_credentials(Settings()) is None and channel_credentials(Settings()) is None
    for bad in (
        lambda: server_credentials(Settings(vault_tls_cert="x.pem")),
        lambda: channel_credentials(Settings(vault_tls_client_cert="c.pem")),
        lambda: channel_credentials(Settings(vault_tls_ca="ca.pem", vault_tls_client_key="k")),
        lambda: channel_credentials(Settings(vault_tls_ca=str(tmp_path / "missing.pem"))),
    ):
        with pytest.raises(KeyConfigError):
            bad()
