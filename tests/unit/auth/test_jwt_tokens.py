"""Access tokens: ours verify; forged, expired, foreign and downgraded ones do not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from adapters.auth.jwt_tokens import JwtCodec, key_id
from adapters.auth.signing_keys import load_or_create_signing_key, load_signing_key
from core.access.ports import InvalidAccessToken
from core.access.sessions import AccessClaims
from tests.fakes import FixedClock

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def codec(clock: FixedClock) -> JwtCodec:
    return JwtCodec(KEY, clock)


def claims(clock: FixedClock, hours: float = 24) -> AccessClaims:
    now = clock.now()
    return AccessClaims("usr_1", "ses_1", now, now + timedelta(hours=hours), "jti1")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def payload(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def handmade(header: dict[str, Any], body: dict[str, Any], sign: Any = None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(body).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def test_a_token_round_trips(codec: JwtCodec, clock: FixedClock) -> None:
    token = codec.issue(claims(clock))
    assert codec.verify(token) == claims(clock)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "typ": "at+jwt", "kid": key_id(KEY.public_key())}
    assert payload(token)["iss"] == "paygate" and payload(token)["aud"] == "paygate-api"


def refused(codec: JwtCodec, token: str) -> str:
    with pytest.raises(InvalidAccessToken) as raised:
        codec.verify(token)
    return str(raised.value)


def test_expired_tokens_are_refused(codec: JwtCodec, clock: FixedClock) -> None:
    token = codec.issue(claims(clock, hours=1))
    clock.advance(hours=1, seconds=29)  # within the leeway for clock skew
    codec.verify(token)
    clock.advance(seconds=1)
    assert refused(codec, token) == "expired"


def test_a_token_from_the_future_is_refused(codec: JwtCodec, clock: FixedClock) -> None:
    token = codec.issue(claims(clock))
    clock.advance(minutes=-5)
    assert refused(codec, token) == "issued in the future"


def test_forged_signatures_are_refused(codec: JwtCodec, clock: FixedClock) -> None:
    forger = Ed25519PrivateKey.generate()
    body = payload(codec.issue(claims(clock)))
    kid = key_id(KEY.public_key())
    forged = jwt.encode(body, forger, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})
    assert refused(codec, forged).startswith("rejected")
    # A payload edited after signing (another user) fails the same way.
    head, _, signature = codec.issue(claims(clock)).split(".")
    tampered = {**body, "sub": "usr_admin"}
    assert refused(codec, f"{head}.{b64(json.dumps(tampered).encode())}.{signature}")


def test_another_audience_or_issuer_is_refused(clock: FixedClock) -> None:
    ours = JwtCodec(KEY, clock)
    for other in (JwtCodec(KEY, clock, audience="billing"), JwtCodec(KEY, clock, issuer="evil")):
        assert refused(ours, other.issue(claims(clock))).startswith("rejected")


def test_alg_none_is_refused(codec: JwtCodec, clock: FixedClock) -> None:
    body = payload(codec.issue(claims(clock)))
    kid = key_id(KEY.public_key())
    for alg in ("none", "None", "NONE"):
        assert refused(codec, handmade({"alg": alg, "typ": "at+jwt", "kid": kid}, body)) == (
            "algorithm not allowed"
        )


def test_key_confusion_hs256_with_our_public_key_is_refused(
    codec: JwtCodec, clock: FixedClock
) -> None:
    # The classic attack: sign with HMAC, using the public key (which anyone may know) as
    # the secret, and hope the verifier feeds the same key to HMAC.
    body = payload(codec.issue(claims(clock)))
    kid = key_id(KEY.public_key())
    for public in (
        KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
    ):
        token = handmade(
            {"alg": "HS256", "typ": "at+jwt", "kid": kid},
            body,
            lambda data, secret=public: hmac.new(secret, data, hashlib.sha256).digest(),
        )
        assert refused(codec, token) == "algorithm not allowed"


def test_other_token_types_and_unknown_keys_are_refused(codec: JwtCodec, clock: FixedClock) -> None:
    body = payload(codec.issue(claims(clock)))
    kid = key_id(KEY.public_key())
    id_token = jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})
    assert refused(codec, id_token) == "not an access token"
    stranger = jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": "x", "typ": "at+jwt"})
    assert refused(codec, stranger) == "unknown key id"
    for garbage in ("", "abc", "a.b.c", "sk_test_123"):
        refused(codec, garbage)


def test_missing_claims_are_refused(codec: JwtCodec, clock: FixedClock) -> None:
    body = payload(codec.issue(claims(clock)))
    del body["sid"]
    kid = key_id(KEY.public_key())
    token = jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})
    assert refused(codec, token).startswith("rejected")


def test_retired_keys_still_verify_after_a_rotation(clock: FixedClock) -> None:
    old = JwtCodec(KEY, clock)
    token = old.issue(claims(clock))
    rotated = JwtCodec(Ed25519PrivateKey.generate(), clock, retired_keys=[KEY.public_key()])
    assert rotated.verify(token).user_id == "usr_1"
    assert refused(JwtCodec(Ed25519PrivateKey.generate(), clock), token) == "unknown key id"


def test_the_signing_key_is_created_once_and_shared(tmp_path: Any) -> None:
    path = tmp_path / "secrets" / "jwt.pem"
    first = load_or_create_signing_key(path)
    second = load_or_create_signing_key(path)
    assert key_id(first.public_key()) == key_id(second.public_key())
    assert path.stat().st_mode & 0o777 == 0o600
    assert key_id(load_signing_key(path.read_text()).public_key()) == key_id(first.public_key())
    with pytest.raises(ValueError, match="Ed25519"):
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        load_signing_key(pem)
