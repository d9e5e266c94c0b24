"""The business profile and payment settings: who the merchant is to its customers, and
the defaults its payments take.

Everything a merchant sends here is checked strictly, because the hosted checkout puts it
in front of shoppers: the logo is an https URL (http only for a loopback host, for local
development) or a small inline image whose bytes are an image, never anything the
gateway fetches; the colour is `#rrggbb`; the statement descriptor follows the card
networks' character rules.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from urllib.parse import urlsplit

from core.payments.model import CaptureMethod
from core.shared.errors import Violations
from core.shared.money import UnknownCurrency, normalize_currency
from core.shared.redaction import mask_pans
from core.shared.text_rules import PAN_IN_TEXT, looks_like_pan

MAX_BUSINESS_NAME = 100
MAX_URL = 2000
MAX_EMAIL = 254
# Decoded bytes of an inline logo: small enough to travel inside every checkout page.
MAX_LOGO_BYTES = 32 * 1024
# What the profile must hold for the onboarding checklist to call it complete.
REQUIRED_FIELDS = ("business_name", "statement_descriptor", "support_email", "country")

_DESCRIPTOR = re.compile(r"^[A-Za-z0-9 .,&/-]{5,22}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,([A-Za-z0-9+/]+={0,2})$")
# The first bytes of each accepted image type: an inline logo must be the image it says.
_MAGIC = {
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "gif": (b"GIF87a", b"GIF89a"),
    "webp": (b"RIFF",),
}


@dataclass(frozen=True)
class BusinessProfile:
    merchant_id: str
    business_name: str = ""
    statement_descriptor: str = ""
    support_email: str = ""
    support_url: str = ""
    country: str = ""
    # Empty: every currency is accepted.
    accepted_currencies: tuple[str, ...] = ()
    default_capture_method: CaptureMethod = CaptureMethod.AUTOMATIC
    branding_color: str = ""
    logo_url: str = ""
    updated: datetime | None = None

    @property
    def missing_fields(self) -> tuple[str, ...]:
        return tuple(name for name in REQUIRED_FIELDS if not getattr(self, name))

    def accepts(self, currency: str) -> bool:
        return not self.accepted_currencies or currency in self.accepted_currencies


# The fields a merchant may write, in the order they are checked.
EDITABLE = tuple(
    f.name for f in fields(BusinessProfile) if f.name not in ("merchant_id", "updated")
)


@dataclass(frozen=True)
class ProfileUpdate:
    """New values by field name (EDITABLE; a capture method of None is "unspecified"), and
    which fields to write: `fields` empty means every field whose new value is set (not
    empty), as AIP-134 reads an absent update mask. A field named in `fields` whose value
    is empty is cleared (the capture method goes back to AUTOMATIC)."""

    values: Mapping[str, object]
    fields: tuple[str, ...] = ()


def apply_update(current: BusinessProfile, update: ProfileUpdate, at: datetime) -> BusinessProfile:
    """The profile after `update`, every field checked; raises InvalidArgument naming
    each bad field (`profile.support_url`) and changes nothing then."""
    violations = Violations()
    names = _fields_to_write(update, violations)
    changes: dict[str, object] = {}
    for name in names:
        value = update.values.get(name)
        problem, normalized = _check(name, value)
        if problem is not None:
            violations.add(f"profile.{name}", problem)
        else:
            changes[name] = normalized
    violations.raise_if_any()
    if not changes:
        return current
    return replace(current, **changes, updated=at)  # type: ignore[arg-type]


def changed_fields(before: BusinessProfile, after: BusinessProfile) -> tuple[str, ...]:
    return tuple(name for name in EDITABLE if getattr(before, name) != getattr(after, name))


def _fields_to_write(update: ProfileUpdate, violations: Violations) -> tuple[str, ...]:
    if not update.fields:
        return tuple(name for name in EDITABLE if update.values.get(name))
    for i, name in enumerate(update.fields):
        if name not in EDITABLE:
            shown = mask_pans(name[:40])  # a card number pasted here must not come back
            violations.add(f"update_mask[{i}]", f"{shown!r} is not a field of the profile")
    return tuple(dict.fromkeys(n for n in update.fields if n in EDITABLE))


def _check(name: str, value: object) -> tuple[str | None, object]:
    """(why `value` cannot be `name`, or None; the value as stored)."""
    if name == "accepted_currencies":
        codes = value if isinstance(value, tuple | list) else ()
        return _currencies(tuple(str(code) for code in codes))
    if name == "default_capture_method":
        return None, value or CaptureMethod.AUTOMATIC
    text = str(value or "").strip()
    if not text:
        if name == "business_name":
            return "is required: 1 to 100 characters", text
        return None, text  # clears the field
    if not text.isprintable():
        return "must not contain control characters", text
    if looks_like_pan(text):
        return PAN_IN_TEXT, text
    match name:
        case "business_name":
            if len(text) > MAX_BUSINESS_NAME:
                return f"may be at most {MAX_BUSINESS_NAME} characters", text
        case "statement_descriptor":
            if not _DESCRIPTOR.match(text) or not re.search(r"[A-Za-z]", text):
                return (
                    "must be 5 to 22 Latin letters, digits, spaces or .,-&/ with at least "
                    "one letter",
                    text,
                )
            text = text.upper()
        case "support_email":
            if len(text) > MAX_EMAIL or not _EMAIL.match(text):
                return "is not an email address", text
        case "support_url":
            return web_url_problem(text), text
        case "country":
            text = text.upper()
            if not _COUNTRY.match(text):
                return "must be an ISO 3166-1 alpha-2 code such as DE", text
        case "branding_color":
            if not _COLOR.match(text):
                return "must be a colour as #rrggbb", text
            text = text.lower()
        case "logo_url":
            return logo_problem(text), text
    return None, text


def _currencies(codes: tuple[str, ...]) -> tuple[str | None, object]:
    normalized: list[str] = []
    for code in codes:
        try:
            normalized.append(normalize_currency(code))
        except UnknownCurrency:
            return f"{code[:8]!r} is not a supported currency", codes
    return None, tuple(sorted(set(normalized)))


def web_url_problem(url: str) -> str | None:
    """Why `url` cannot be shown to shoppers as a link or image: an https URL with a host,
    or http to a loopback host (local development); never credentials in it."""
    if len(url) > MAX_URL:
        return f"may be at most {MAX_URL} characters"
    if any(c.isspace() for c in url):
        return "must be a URL without spaces"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError:
        return "is not a URL"
    if not host:
        return "must be an absolute https URL"
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http" and _is_loopback(host):
        return None
    return "must be an https URL (http only for a loopback host)"


def logo_problem(url: str) -> str | None:
    """An https (or loopback http) URL, or a data: URL of a PNG, JPEG, GIF or WebP image
    of at most MAX_LOGO_BYTES whose bytes are that image."""
    if not url.startswith("data:"):
        return web_url_problem(url)
    match = _DATA_URL.match(url)
    if match is None:
        return "must be an https URL or a data:image/png|jpeg|gif|webp;base64 URL"
    kind, payload = match.groups()
    if len(payload) > (MAX_LOGO_BYTES * 4) // 3 + 4:
        return f"may hold at most {MAX_LOGO_BYTES // 1024} KiB of image"
    try:
        image = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return "is not valid base64"
    if len(image) > MAX_LOGO_BYTES:
        return f"may hold at most {MAX_LOGO_BYTES // 1024} KiB of image"
    if not image.startswith(_MAGIC[kind]) or (kind == "webp" and image[8:12] != b"WEBP"):
        return f"is not a {kind.upper()} image"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
