"""Where the access-token signing key comes from.

Every API process must sign and verify with the same key. Production passes it in
PAYGATE_JWT_SIGNING_KEY (a PKCS#8 PEM of an Ed25519 key, e.g. from a secret store); the
embedded mode keeps one under the data dir, created by whichever process starts first.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)


def load_signing_key(pem: str | bytes) -> Ed25519PrivateKey:
    key = load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the JWT signing key must be an Ed25519 private key (PKCS#8 PEM)")
    return key


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Reads the key at `path`, creating it (mode 0600) if absent.

    O_EXCL makes creation race-free: of two processes starting together, one writes and
    the other reads what it wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_signing_key(_read_complete(path))
    with os.fdopen(fd, "wb") as file:
        file.write(pem)
    return key


def _read_complete(path: Path) -> bytes:
    # The creator may still be writing: a PEM is complete once its END line is there.
    import time

    for _ in range(100):
        data = path.read_bytes()
        if b"-----END" in data:
            return data
        time.sleep(0.01)
    raise ValueError(f"{path} holds no complete PEM key")
