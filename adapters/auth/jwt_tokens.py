"""AccessTokenCodec over PyJWT: EdDSA (Ed25519) signatures, and nothing else.

What a verified token has passed, in order:
- its header names alg EdDSA (an explicit allow-list of one: "none" and every HMAC
  algorithm are refused before any key is touched, so an attacker cannot turn our public
  key into an HMAC secret: the key-confusion attack) and typ at+jwt (RFC 9068: an ID
  token or another JWT of ours is not an access token);
- its kid names one of our verification keys (the signing key, plus retired keys kept
  to verify tokens issued before a rotation);
- the signature, then iss and aud, then exp and iat against the injected clock (PyJWT's
  own time checks read the system clock; tests move time, so the codec checks it).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from core.access.ports import InvalidAccessToken
from core.access.sessions import AccessClaims
from core.shared.ports import Clock

ALGORITHM = "EdDSA"
TOKEN_TYPE = "at+jwt"
DEFAULT_ISSUER = "paygate"
DEFAULT_AUDIENCE = "paygate-api"
_REQUIRED = ["iss", "aud", "sub", "sid", "jti", "iat", "exp"]


def key_id(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 JWK thumbprint: stable across processes that share the key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class JwtCodec:
    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        clock: Clock,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        retired_keys: Iterable[Ed25519PublicKey] = (),
        leeway: timedelta = timedelta(seconds=30),
    ) -> None:
        self._signing_key = signing_key
        self._kid = key_id(signing_key.public_key())
        self._keys = {key_id(k): k for k in retired_keys}
        self._keys[self._kid] = signing_key.public_key()
        self._clock = clock
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    def issue(self, claims: AccessClaims) -> str:
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": claims.user_id,
            "sid": claims.session_id,
            "jti": claims.token_id,
            "iat": int(claims.issued_at.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        return jwt.encode(
            payload,
            self._signing_key,
            algorithm=ALGORITHM,
            headers={"kid": self._kid, "typ": TOKEN_TYPE},
        )

    def verify(self, token: str) -> AccessClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise InvalidAccessToken(f"malformed: {type(error).__name__}") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidAccessToken("algorithm not allowed")
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidAccessToken("not an access token")
        key = self._keys.get(str(header.get("kid", "")))
        if key is None:
            raise InvalidAccessToken("unknown key id")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": _REQUIRED,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidAccessToken(f"rejected: {type(error).__name__}") from None
        return self._claims(payload)

    def _claims(self, payload: dict[str, Any]) -> AccessClaims:
        try:
            issued_at = datetime.fromtimestamp(int(payload["iat"]), UTC)
            expires_at = datetime.fromtimestamp(int(payload["exp"]), UTC)
            subject, session, token_id = str(payload["sub"]), str(payload["sid"]), payload["jti"]
        except (TypeError, ValueError, OverflowError, OSError):
            raise InvalidAccessToken("malformed claims") from None
        now = self._clock.now()
        if now >= expires_at + self._leeway:
            raise InvalidAccessToken("expired")
        if issued_at > now + self._leeway:
            raise InvalidAccessToken("issued in the future")
        return AccessClaims(subject, session, issued_at, expires_at, str(token_id))
