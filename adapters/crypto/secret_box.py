"""Seals short secrets the platform must keep to use (webhook signing secrets).

AES-256-GCM with a random 96-bit nonce; the key is SHA-256 of the operator's key text
(PAYGATE_WEBHOOK_SECRET_KEY), or of a development constant when it is unset. The sealed
form is nonce || ciphertext+tag, stored as bytea: a row never shows the secret in clear.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.shared.secret import Secret

DEVELOPMENT_KEY = "paygate-development-webhook-secret-key"
_CONTEXT = b"paygate webhook secret v1"


class SecretBox:
    def __init__(self, key_text: str = "") -> None:
        self._aead = AESGCM(hashlib.sha256((key_text or DEVELOPMENT_KEY).encode()).digest())

    def seal(self, secret: Secret) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, secret.reveal().encode(), _CONTEXT)

    def open(self, sealed: bytes) -> Secret:
        return Secret(self._aead.decrypt(sealed[:12], sealed[12:], _CONTEXT).decode())
