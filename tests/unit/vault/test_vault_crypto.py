from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.crypto.aes_gcm import AesGcmCipher, decode_header, encode_header
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.crypto.kek import (
    AesGcmKeyWrapper,
    CachingKeyWrapper,
    KeyConfigError,
    KmsKeyWrapper,
    combine_components,
    key_check_value,
    load_key,
)
from core.vault.errors import CiphertextRejected, KeyUnavailable
from core.vault.model import CipherContext, DataKeyRef, KeyMaterial, Pan
from tests.unit.vault.fakes import FakeKms

CIPHER = AesGcmCipher()
KEY_A = KeyMaterial(bytes(range(32)))
KEY_B = KeyMaterial(bytes(range(1, 33)))
REF = DataKeyRef("dek_3kTq9xYzAbCd", 7)
CTX = CipherContext("acct_a", "tok_01jd0000000000000000000000")

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40)
refs = st.builds(
    DataKeyRef,
    st.text(alphabet="abcdefghjkmnpqrstvwxyz0123456789_-", min_size=1, max_size=64),
    st.integers(0, 2**32 - 1),
)
contexts = st.builds(CipherContext, ids, ids)
plaintexts = st.binary(max_size=256)


# ---------------------------------------------------------------- ciphertexts


@given(plaintext=plaintexts, ref=refs, context=contexts)
def test_round_trip(plaintext: bytes, ref: DataKeyRef, context: CipherContext) -> None:
    sealed = CIPHER.encrypt(KEY_A, plaintext, ref=ref, context=context)
    assert CIPHER.key_ref(sealed) == ref
    assert CIPHER.decrypt(KEY_A, sealed, context=context) == plaintext


def test_the_layout_is_the_documented_one() -> None:
    sealed = CIPHER.encrypt(KEY_A, b"card", ref=REF, context=CTX)
    n = len(REF.key_id)
    assert sealed[0] == 0x01
    assert sealed[1] == n
    assert sealed[2 : 2 + n] == REF.key_id.encode()
    assert struct.unpack(">I", sealed[2 + n : 6 + n]) == (7,)
    assert len(sealed) == 6 + n + 12 + len(b"card") + 16
    assert decode_header(sealed) == (REF, 6 + n)


def test_every_encryption_takes_a_fresh_nonce() -> None:
    one = CIPHER.encrypt(KEY_A, b"same", ref=REF, context=CTX)
    two = CIPHER.encrypt(KEY_A, b"same", ref=REF, context=CTX)
    header = len(encode_header(REF))
    assert one[header : header + 12] != two[header : header + 12]


@settings(max_examples=200)
@given(plaintext=st.binary(min_size=1, max_size=64), data=st.data())
def test_one_flipped_bit_anywhere_fails_to_decrypt(plaintext: bytes, data: st.DataObject) -> None:
    sealed = bytearray(CIPHER.encrypt(KEY_A, plaintext, ref=REF, context=CTX))
    bit = data.draw(st.integers(0, len(sealed) * 8 - 1), label="bit")
    sealed[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(CiphertextRejected):
        CIPHER.decrypt(KEY_A, bytes(sealed), context=CTX)


@pytest.mark.parametrize(
    "region", ["version", "key id length", "key id", "key version", "nonce", "body", "tag"]
)
def test_a_flipped_bit_in_each_region_fails(region: str) -> None:
    sealed = bytearray(CIPHER.encrypt(KEY_A, b"4242424242424242", ref=REF, context=CTX))
    n = len(REF.key_id)
    offset = {
        "version": 0,
        "key id length": 1,
        "key id": 2,
        "key version": 2 + n + 3,
        "nonce": 6 + n,
        "body": 18 + n,
        "tag": len(sealed) - 1,
    }[region]
    sealed[offset] ^= 0x01
    with pytest.raises(CiphertextRejected):
        CIPHER.decrypt(KEY_A, bytes(sealed), context=CTX)


@given(plaintext=plaintexts, context=contexts)
def test_another_merchants_key_never_decrypts(plaintext: bytes, context: CipherContext) -> None:
    sealed = CIPHER.encrypt(KEY_A, plaintext, ref=REF, context=context)
    with pytest.raises(CiphertextRejected):
        CIPHER.decrypt(KEY_B, sealed, context=context)


@given(plaintext=plaintexts, context=contexts, other=contexts)
def test_a_moved_ciphertext_never_decrypts(
    plaintext: bytes, context: CipherContext, other: CipherContext
) -> None:
    """Copied to another row (token id) or another merchant: the associated data differs."""
    sealed = CIPHER.encrypt(KEY_A, plaintext, ref=REF, context=context)
    if other != context:
        with pytest.raises(CiphertextRejected):
            CIPHER.decrypt(KEY_A, sealed, context=other)


def test_ambiguous_contexts_do_not_collide() -> None:
    # Length prefixes: ("ab", "c") and ("a", "bc") are different associated data.
    sealed = CIPHER.encrypt(KEY_A, b"x", ref=REF, context=CipherContext("ab", "c"))
    with pytest.raises(CiphertextRejected):
        CIPHER.decrypt(KEY_A, sealed, context=CipherContext("a", "bc"))


@pytest.mark.parametrize(
    "junk",
    [
        b"",
        b"\x01",
        b"\x02" + bytes(40),
        b"\x01\x00" + bytes(40),
        b"\x01\x05abc",
        b"\x01\x02\x00\x01",
    ],
)
def test_garbage_is_rejected_not_crashed_on(junk: bytes) -> None:
    with pytest.raises(CiphertextRejected):
        CIPHER.key_ref(junk)
    with pytest.raises(CiphertextRejected):
        CIPHER.decrypt(KEY_A, junk, context=CTX)


def test_generated_keys_are_256_bit_and_distinct() -> None:
    one, two = CIPHER.generate_key(), CIPHER.generate_key()
    assert len(one.reveal()) == 32 and one.reveal() != two.reveal()


# ----------------------------------------------------------------- key wrapping

KEK_1 = KeyMaterial(os.urandom(32))
KEK_2 = KeyMaterial(os.urandom(32))


async def test_local_wrap_round_trip_and_binding() -> None:
    wrapper = AesGcmKeyWrapper({"kek-1": KEK_1}, current="kek-1")
    dek = CIPHER.generate_key()
    wrapped = await wrapper.wrap(dek, merchant_id="acct_a", ref=REF)
    assert dek.reveal() not in wrapped
    unwrapped = await wrapper.unwrap(wrapped, merchant_id="acct_a", ref=REF)
    assert unwrapped.reveal() == dek.reveal()
    for merchant, ref in [("acct_b", REF), ("acct_a", DataKeyRef(REF.key_id, 8))]:
        with pytest.raises(CiphertextRejected):
            await wrapper.unwrap(wrapped, merchant_id=merchant, ref=ref)
    for i in range(len(wrapped)):
        broken = bytearray(wrapped)
        broken[i] ^= 0x80
        with pytest.raises((CiphertextRejected, KeyUnavailable)):
            await wrapper.unwrap(bytes(broken), merchant_id="acct_a", ref=REF)


async def test_a_kek_rotation_keeps_old_wraps_readable() -> None:
    old = AesGcmKeyWrapper({"kek-1": KEK_1}, current="kek-1")
    wrapped = await old.wrap(KEY_A, merchant_id="acct_a", ref=REF)
    both = AesGcmKeyWrapper({"kek-1": KEK_1, "kek-2": KEK_2}, current="kek-2")
    assert both.kek_id == "kek-2"
    assert (await both.unwrap(wrapped, merchant_id="acct_a", ref=REF)).reveal() == KEY_A.reveal()
    new_only = AesGcmKeyWrapper({"kek-2": KEK_2}, current="kek-2")
    with pytest.raises(KeyUnavailable):
        await new_only.unwrap(wrapped, merchant_id="acct_a", ref=REF)


async def test_kms_wrapper_binds_the_context_and_maps_failures() -> None:
    kms = FakeKms()
    wrapper = KmsKeyWrapper(kms, key_id="alias/paygate-kek")
    wrapped = await wrapper.wrap(KEY_A, merchant_id="acct_a", ref=REF)
    assert (await wrapper.unwrap(wrapped, merchant_id="acct_a", ref=REF)).reveal() == KEY_A.reveal()
    with pytest.raises(CiphertextRejected):
        await wrapper.unwrap(wrapped, merchant_id="acct_b", ref=REF)
    kms.down = True
    with pytest.raises(KeyUnavailable):
        await wrapper.unwrap(wrapped, merchant_id="acct_a", ref=REF)
    with pytest.raises(KeyUnavailable):
        await wrapper.wrap(KEY_A, merchant_id="acct_a", ref=REF)


async def test_caching_wrapper_asks_the_kms_once_per_key() -> None:
    kms = FakeKms()
    inner = KmsKeyWrapper(kms, key_id="alias/paygate-kek")
    wrapper = CachingKeyWrapper(inner, ttl_seconds=60, max_entries=1)
    wrapped = await wrapper.wrap(KEY_A, merchant_id="acct_a", ref=REF)
    await wrapper.unwrap(wrapped, merchant_id="acct_a", ref=REF)
    kms.down = True
    assert (await wrapper.unwrap(wrapped, merchant_id="acct_a", ref=REF)).reveal() == KEY_A.reveal()
    with pytest.raises(KeyUnavailable):  # not cached: another merchant, another entry
        await wrapper.unwrap(wrapped, merchant_id="acct_b", ref=REF)


# ------------------------------------------------------------------ KEK loading


def test_load_key_from_a_file_in_each_encoding(tmp_path: Path) -> None:
    raw = bytes(range(200, 232))
    for name, content in [
        ("raw", raw),
        ("hex", raw.hex().encode() + b"\n"),
        ("b64", __import__("base64").b64encode(raw) + b"\n"),
    ]:
        path = tmp_path / name
        path.write_bytes(content)
        assert load_key(f"file:{path}").reveal() == raw


def test_load_key_from_the_environment_and_xored_components(tmp_path: Path) -> None:
    a, b = os.urandom(32), os.urandom(32)
    (tmp_path / "a").write_bytes(a.hex().encode())
    env = {"KEK_B": b.hex(), "KEK": a.hex()}
    assert load_key("env:KEK", environ=env).reveal() == a
    combined = load_key(f"xor:file:{tmp_path / 'a'},env:KEK_B", environ=env)
    assert combined.reveal() == bytes(x ^ y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    ("spec", "env", "message"),
    [
        ("env:MISSING", {}, "not set"),
        ("env:SHORT", {"SHORT": "abcd"}, "256-bit"),
        ("env:TEXT", {"TEXT": "correct horse battery staple 123"}, "passphrase"),
        ("file:/nonexistent/kek", {}, "key file"),
        ("plain", {}, "a key spec is"),
        ("xor:env:A", {"A": "11" * 32}, "at least two"),
        ("xor:env:A,env:A", {"A": "11" * 32}, "equal"),
        ("xor:env:A,env:Z", {"A": "11" * 32, "Z": "00" * 32}, "all zeros"),
    ],
)
def test_bad_key_configuration_says_why_without_the_key(
    spec: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(KeyConfigError, match=message) as exc:
        load_key(spec, environ=env)
    for value in env.values():
        if len(value) > 8:
            assert value not in str(exc.value)


def test_components_that_cancel_out_are_refused() -> None:
    with pytest.raises(KeyConfigError):
        combine_components([KeyMaterial(b"\x01" * 32), KeyMaterial(b"\x02" * 32),
                            KeyMaterial(b"\x03" * 32)])  # fmt: skip


def test_key_check_value_known_answer() -> None:
    # AES-256 of the zero block under the zero key is dc95c078a2408989ad48a21492842087.
    assert key_check_value(KeyMaterial(bytes(32))) == "DC95C0"


# ------------------------------------------------------------------ fingerprints

FP = HmacFingerprinter(KeyMaterial(bytes(range(100, 132))))
pans = st.text(alphabet="0123456789", min_size=13, max_size=19).map(Pan)


@given(pan=pans, merchant=ids, other=ids)
def test_fingerprints_are_stable_per_merchant_and_differ_across(
    pan: Pan, merchant: str, other: str
) -> None:
    mine = FP.fingerprint(pan, merchant_id=merchant)
    assert mine == FP.fingerprint(Pan(pan.reveal()), merchant_id=merchant)
    assert len(mine) == 32 and int(mine, 16) >= 0
    if other != merchant:
        assert FP.fingerprint(pan, merchant_id=other) != mine


def test_fingerprints_tell_cards_apart_and_are_no_plain_hash() -> None:
    pan = "4242424242424242"
    fp = FP.fingerprint(Pan(pan), merchant_id="acct_a")
    assert fp != FP.fingerprint(Pan("5555555555554444"), merchant_id="acct_a")
    assert fp not in {
        hashlib.sha256(pan.encode()).hexdigest()[:32],
        hashlib.sha1(pan.encode()).hexdigest()[:32],
        hashlib.md5(pan.encode()).hexdigest(),
    }
    other_key = HmacFingerprinter(KeyMaterial(bytes(range(32))))
    assert other_key.fingerprint(Pan(pan), merchant_id="acct_a") != fp
