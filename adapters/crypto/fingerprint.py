"""Card fingerprints: the `core.vault.ports.Fingerprinter` adapter.

    fingerprint = hex(HMAC-SHA256(fingerprint_key,
                                  b"paygate.vault.fingerprint.v1"
                                  || u16 len(merchant_id) || merchant_id
                                  || u16 len(pan) || pan)[:16])

- keyed: without the fingerprint key nobody can test guesses of a PAN against a
  fingerprint (a plain SHA-256 of a 16-digit PAN with a known BIN falls to brute force);
- per merchant: the merchant id is inside the MAC, so one card gives unrelated
  fingerprints at two merchants and fingerprints cannot be joined across merchants;
- 128 bits (32 hex characters): no collisions within any merchant's cards.

The fingerprint key is its own key (`load_key`, e.g. env:PAYGATE_VAULT_FINGERPRINT_KEY),
not derived from the KEK: rotating the KEK must not change fingerprints. Rotating the
fingerprint key changes every fingerprint and needs a re-fingerprinting job.
"""

from __future__ import annotations

import hashlib
import hmac

from adapters.crypto.aes_gcm import length_prefixed
from core.vault.model import KeyMaterial, Pan

_LABEL = b"paygate.vault.fingerprint.v1"
FINGERPRINT_BYTES = 16


class HmacFingerprinter:
    def __init__(self, key: KeyMaterial) -> None:
        if len(key.reveal()) < 32:
            raise ValueError("a fingerprint key has at least 256 bits")
        self._key = key.reveal()

    def fingerprint(self, pan: Pan, *, merchant_id: str) -> str:
        message = _LABEL + length_prefixed(merchant_id) + length_prefixed(pan.reveal())
        return hmac.new(self._key, message, hashlib.sha256).digest()[:FINGERPRINT_BYTES].hex()
