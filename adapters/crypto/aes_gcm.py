"""AES-256-GCM card ciphertexts: the `core.vault.ports.Cipher` adapter.

Ciphertext format, version 1 (all integers big-endian):

    offset   size  field
    0        1     format version = 0x01 (AES-256-GCM, this layout)
    1        1     n = length of the data key id in bytes, 1..255
    2        n     data key id, ASCII (`dek_...`)
    2+n      4     data key version, unsigned 32-bit
    6+n      12    nonce: 96 random bits from os.urandom, new for every encryption
    18+n     L     encrypted plaintext (L = plaintext length)
    18+n+L   16    GCM authentication tag

    header = bytes 0 .. 6+n (version, key id, key version)

Associated data (authenticated, not stored):

    b"paygate.vault.card.v1"
    || u16 len(merchant_id) || merchant_id (UTF-8)
    || u16 len(record_id)   || record_id   (UTF-8, the tok_/pm_ id of the row)
    || header

so the merchant, the row and the key id/version are all bound: a ciphertext copied to
another row or another merchant, or given a doctored header, fails the tag check. The
nonce needs no binding of its own (GCM's tag depends on it). Any failure, whatever the
cause, is one `CiphertextRejected` with no detail, so the error is no decryption oracle.

Random 96-bit nonces are safe for 2**32 encryptions per key (NIST SP 800-38D); data keys
rotate long before that (core.vault.model.RotationPolicy, 1,000,000 by default).

A new layout gets a new version byte; readers keep accepting every version still found
in storage until the re-encryption job has rewritten those rows.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.vault.errors import CiphertextRejected
from core.vault.model import CipherContext, DataKeyRef, KeyMaterial

FORMAT_V1 = 0x01
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_AD_LABEL = b"paygate.vault.card.v1"
_VERSION = struct.Struct(">I")
_LENGTH = struct.Struct(">H")


def length_prefixed(text: str) -> bytes:
    raw = text.encode()
    return _LENGTH.pack(len(raw)) + raw


class AesGcmCipher:
    def generate_key(self) -> KeyMaterial:
        return KeyMaterial(AESGCM.generate_key(bit_length=KEY_BYTES * 8))

    def encrypt(
        self, key: KeyMaterial, plaintext: bytes, *, ref: DataKeyRef, context: CipherContext
    ) -> bytes:
        header = encode_header(ref)
        nonce = os.urandom(NONCE_BYTES)
        sealed = _aead(key).encrypt(nonce, plaintext, _associated_data(context, header))
        return header + nonce + sealed

    def key_ref(self, ciphertext: bytes) -> DataKeyRef:
        ref, _ = decode_header(ciphertext)
        return ref

    def decrypt(self, key: KeyMaterial, ciphertext: bytes, *, context: CipherContext) -> bytes:
        _, header_len = decode_header(ciphertext)
        header = ciphertext[:header_len]
        nonce = ciphertext[header_len : header_len + NONCE_BYTES]
        sealed = ciphertext[header_len + NONCE_BYTES :]
        try:
            return _aead(key).decrypt(nonce, sealed, _associated_data(context, header))
        except InvalidTag:
            raise CiphertextRejected() from None


def encode_header(ref: DataKeyRef) -> bytes:
    key_id = ref.key_id.encode("ascii")
    if not 1 <= len(key_id) <= 255:
        raise ValueError("a data key id is 1 to 255 ASCII characters")
    if not 0 <= ref.version < 2**32:
        raise ValueError("a data key version is an unsigned 32-bit integer")
    return bytes((FORMAT_V1, len(key_id))) + key_id + _VERSION.pack(ref.version)


def decode_header(ciphertext: bytes) -> tuple[DataKeyRef, int]:
    """The data key named in the header and the header's length; CiphertextRejected when the
    bytes cannot be a version-1 ciphertext."""
    if len(ciphertext) < 2 or ciphertext[0] != FORMAT_V1:
        raise CiphertextRejected()
    n = ciphertext[1]
    header_len = 2 + n + _VERSION.size
    if n == 0 or len(ciphertext) < header_len + NONCE_BYTES + TAG_BYTES:
        raise CiphertextRejected()
    raw_id = ciphertext[2 : 2 + n]
    if not all(0x21 <= b <= 0x7E for b in raw_id):  # printable ASCII, no spaces
        raise CiphertextRejected()
    (version,) = _VERSION.unpack_from(ciphertext, 2 + n)
    return DataKeyRef(raw_id.decode("ascii"), version), header_len


def _associated_data(context: CipherContext, header: bytes) -> bytes:
    return (
        _AD_LABEL
        + length_prefixed(context.merchant_id)
        + length_prefixed(context.record_id)
        + header
    )


def _aead(key: KeyMaterial) -> AESGCM:
    raw = key.reveal()
    if len(raw) != KEY_BYTES:
        raise ValueError("AES-256-GCM needs a 32-byte key")
    return AESGCM(raw)
