"""The key-encryption key (KEK): `core.vault.ports.KeyWrapper` adapters and KEK loading.

Where the KEK comes from (`load_key(spec)`, spec from configuration):

    file:/etc/paygate/kek          a file: 32 raw bytes, or 64 hex characters, or base64
    env:PAYGATE_VAULT_KEK          an environment variable: hex or base64 of 32 bytes
    xor:file:/mnt/a,env:KEK_B      two (or more) key components XORed together: split
                                   knowledge, no single custodian holds the key; each
                                   component and the result are checked (32 bytes, not
                                   all zero, components distinct)

or a KMS: `KmsKeyWrapper` over a `KmsClient` (the KMS keeps the KEK; we send it data keys
to wrap and unwrap). `key_check_value` gives the usual 6-hex-digit KCV of a key (or a
component) so that custodians can compare keys without showing them; log the KCV, never
the key.

Wrapped data key format, version 1 (local KEK):

    offset  size  field
    0       1     format version = 0x01 (AES-256-GCM under the KEK)
    1       1     m = length of the KEK id, 1..255
    2       m     KEK id, ASCII
    2+m     12    nonce, random
    14+m    48    the 32-byte data key, encrypted, + 16-byte GCM tag

    associated data: b"paygate.vault.dek.v1" || u16 len || merchant_id
                     || u16 len || data key id || u32 data key version || bytes 0..2+m

A wrapped key copied to another merchant's or another version's row does not unwrap.
Several KEKs may be configured at once (the current one wraps; older ones still unwrap),
which is how a KEK rotates: configure the new one as current, re-wrap, retire the old.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from adapters.crypto.aes_gcm import KEY_BYTES, NONCE_BYTES, length_prefixed
from core.vault.errors import CiphertextRejected, KeyUnavailable
from core.vault.model import DataKeyRef, KeyMaterial
from core.vault.ports import KeyWrapper

WRAP_V1 = 0x01
_AD_LABEL = b"paygate.vault.dek.v1"
_U32 = struct.Struct(">I")


class KeyConfigError(ValueError):
    """A KEK or fingerprint key is missing or malformed. Never carries key bytes."""


# ------------------------------------------------------------------------- loading


def parse_key(data: bytes, *, source: str) -> KeyMaterial:
    """32 raw bytes, or their hex (64 characters) or base64 text, surrounding space ignored.

    32 bytes that are all printable text are refused: that is a passphrase, not a key (a
    random key is all printable with odds of about 1 in 10**14).
    """
    if len(data) == KEY_BYTES:
        if all(0x20 <= b <= 0x7E for b in data):
            raise KeyConfigError(f"{source}: 32 characters of text is a passphrase, not a key")
        return KeyMaterial(data)
    text = data.strip()
    decoded: bytes | None = None
    if len(text) == 2 * KEY_BYTES:
        try:
            decoded = bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            decoded = None
    if decoded is None:
        try:
            decoded = base64.b64decode(text.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
        except (binascii.Error, ValueError):
            decoded = None
    if decoded is None or len(decoded) != KEY_BYTES:
        raise KeyConfigError(f"{source}: expected a 256-bit key (32 bytes, hex or base64)")
    return KeyMaterial(decoded)


def load_key(spec: str, *, environ: Mapping[str, str] | None = None) -> KeyMaterial:
    """A key from `file:PATH`, `env:NAME` or `xor:SPEC,SPEC[,...]` (see the module doc)."""
    env = os.environ if environ is None else environ
    scheme, _, rest = spec.partition(":")
    if scheme == "file" and rest:
        try:
            return parse_key(Path(rest).read_bytes(), source=f"key file {rest}")
        except OSError as exc:
            raise KeyConfigError(f"key file {rest}: {exc.strerror}") from None
    if scheme == "env" and rest:
        value = env.get(rest, "")
        if not value:
            raise KeyConfigError(f"environment variable {rest} is not set")
        return parse_key(value.encode(), source=f"environment variable {rest}")
    if scheme == "xor" and rest:
        parts = rest.split(",")
        if any(part.startswith("xor:") for part in parts):
            raise KeyConfigError("xor: components cannot themselves be xor: specs")
        return combine_components([load_key(part, environ=env) for part in parts])
    raise KeyConfigError("a key spec is file:PATH, env:NAME or xor:SPEC,SPEC")


def combine_components(components: list[KeyMaterial]) -> KeyMaterial:
    """The XOR of two or more key components (each held by a different custodian)."""
    if len(components) < 2:
        raise KeyConfigError("xor: needs at least two key components")
    raws = [c.reveal() for c in components]
    if any(len(r) != KEY_BYTES for r in raws):
        raise KeyConfigError("every key component must be 32 bytes")
    if any(not any(r) for r in raws):
        raise KeyConfigError("a key component is all zeros")
    if len(set(raws)) != len(raws):
        raise KeyConfigError("two key components are equal (their XOR would cancel out)")
    combined = bytearray(KEY_BYTES)
    for raw in raws:
        for i, b in enumerate(raw):
            combined[i] ^= b
    if not any(combined):
        raise KeyConfigError("the key components XOR to zero")
    return KeyMaterial(bytes(combined))


def key_check_value(key: KeyMaterial) -> str:
    """The key check value: the first 3 bytes of AES(key, zero block), as 6 hex digits."""
    encryptor = Cipher(algorithms.AES(key.reveal()), modes.ECB()).encryptor()
    return (encryptor.update(bytes(16)) + encryptor.finalize())[:3].hex().upper()


# -------------------------------------------------------------------- local KEK(s)


class AesGcmKeyWrapper:
    """Wraps data keys under a KEK held in process memory (loaded with `load_key`)."""

    def __init__(self, keks: Mapping[str, KeyMaterial], *, current: str) -> None:
        if current not in keks:
            raise KeyConfigError(f"the current KEK {current!r} is not among the configured ones")
        for kek_id, kek in keks.items():
            if not 1 <= len(kek_id.encode()) <= 255 or not kek_id.isascii():
                raise KeyConfigError(f"KEK id {kek_id[:20]!r}: 1-255 ASCII characters")
            if len(kek.reveal()) != KEY_BYTES:
                raise KeyConfigError(f"KEK {kek_id}: must be 32 bytes")
        self._keks = {kek_id: AESGCM(kek.reveal()) for kek_id, kek in keks.items()}
        self._current = current

    @property
    def kek_id(self) -> str:
        return self._current

    async def wrap(self, key: KeyMaterial, *, merchant_id: str, ref: DataKeyRef) -> bytes:
        kek_id = self._current.encode()
        header = bytes((WRAP_V1, len(kek_id))) + kek_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keks[self._current].encrypt(
            nonce, key.reveal(), _wrap_ad(merchant_id, ref, header)
        )
        return header + nonce + sealed

    async def unwrap(self, wrapped: bytes, *, merchant_id: str, ref: DataKeyRef) -> KeyMaterial:
        if len(wrapped) < 2 or wrapped[0] != WRAP_V1:
            raise CiphertextRejected()
        m = wrapped[1]
        header_len = 2 + m
        if m == 0 or len(wrapped) != header_len + NONCE_BYTES + KEY_BYTES + 16:
            raise CiphertextRejected()
        kek_id = wrapped[2:header_len].decode("ascii", errors="replace")
        aead = self._keks.get(kek_id)
        if aead is None:
            raise KeyUnavailable(f"KEK {kek_id!r} is not configured in this process.")
        nonce = wrapped[header_len : header_len + NONCE_BYTES]
        try:
            raw = aead.decrypt(
                nonce,
                wrapped[header_len + NONCE_BYTES :],
                _wrap_ad(merchant_id, ref, wrapped[:header_len]),
            )
        except InvalidTag:
            raise CiphertextRejected() from None
        return KeyMaterial(raw)


def _wrap_ad(merchant_id: str, ref: DataKeyRef, header: bytes) -> bytes:
    return (
        _AD_LABEL
        + length_prefixed(merchant_id)
        + length_prefixed(ref.key_id)
        + _U32.pack(ref.version)
        + header
    )


# --------------------------------------------------------------------------- KMS


class KmsRejected(Exception):
    """The KMS refused the ciphertext or its context (AWS: InvalidCiphertextException)."""


class KmsUnavailable(Exception):
    """The KMS could not be reached or throttled us; retrying later may work."""


class KmsClient(Protocol):
    """The two calls of a KMS (AWS KMS Encrypt/Decrypt with an encryption context, GCP
    Cloud KMS with additional authenticated data, Vault transit ...). Implementations
    raise KmsRejected or KmsUnavailable, nothing else for expected failures."""

    async def encrypt(
        self, key_id: str, plaintext: bytes, *, context: Mapping[str, str]
    ) -> bytes: ...

    async def decrypt(
        self, key_id: str, ciphertext: bytes, *, context: Mapping[str, str]
    ) -> bytes: ...


class KmsKeyWrapper:
    """Data keys wrapped by a KMS key that never leaves the KMS. The encryption context
    binds merchant, data key id and version exactly like the local wrap's associated data."""

    def __init__(self, client: KmsClient, *, key_id: str) -> None:
        self._client = client
        self._key_id = key_id

    @property
    def kek_id(self) -> str:
        return self._key_id

    async def wrap(self, key: KeyMaterial, *, merchant_id: str, ref: DataKeyRef) -> bytes:
        try:
            return await self._client.encrypt(
                self._key_id, key.reveal(), context=_kms_context(merchant_id, ref)
            )
        except KmsUnavailable:
            raise KeyUnavailable("The key management service is unavailable.") from None

    async def unwrap(self, wrapped: bytes, *, merchant_id: str, ref: DataKeyRef) -> KeyMaterial:
        try:
            raw = await self._client.decrypt(
                self._key_id, wrapped, context=_kms_context(merchant_id, ref)
            )
        except KmsRejected:
            raise CiphertextRejected() from None
        except KmsUnavailable:
            raise KeyUnavailable("The key management service is unavailable.") from None
        return KeyMaterial(raw)


def _kms_context(merchant_id: str, ref: DataKeyRef) -> dict[str, str]:
    return {
        "purpose": "paygate.vault.dek.v1",
        "merchant_id": merchant_id,
        "data_key_id": ref.key_id,
        "data_key_version": str(ref.version),
    }


# ----------------------------------------------------------------------- caching


class CachingKeyWrapper:
    """Keeps unwrapped data keys in memory for a short while, so that a KMS is asked once
    per data key per `ttl_seconds`, not once per card. Wrapping is never cached."""

    def __init__(
        self,
        inner: KeyWrapper,
        *,
        ttl_seconds: float = 300.0,
        max_entries: int = 10_000,
    ) -> None:
        self._inner = inner
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[tuple[bytes, str, DataKeyRef], tuple[float, KeyMaterial]] = (
            OrderedDict()
        )

    @property
    def kek_id(self) -> str:
        return self._inner.kek_id

    async def wrap(self, key: KeyMaterial, *, merchant_id: str, ref: DataKeyRef) -> bytes:
        return await self._inner.wrap(key, merchant_id=merchant_id, ref=ref)

    async def unwrap(self, wrapped: bytes, *, merchant_id: str, ref: DataKeyRef) -> KeyMaterial:
        now = time.monotonic()
        cache_key = (wrapped, merchant_id, ref)
        hit = self._entries.get(cache_key)
        if hit is not None and hit[0] > now:
            self._entries.move_to_end(cache_key)
            return hit[1]
        key = await self._inner.unwrap(wrapped, merchant_id=merchant_id, ref=ref)
        self._entries[cache_key] = (now + self._ttl, key)
        self._entries.move_to_end(cache_key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return key
