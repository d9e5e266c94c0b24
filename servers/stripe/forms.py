"""Stripe's request parameters: bracketed form bodies and query strings, checked against
what a route declares.

    amount=2000&metadata[order]=6735&payment_method_types[0]=card&expand[]=customer

qs-codec (a port of the `qs` parser that Stripe's own libraries mirror) turns the text
into nested dicts and lists, percent-encoded brackets included. Each route declares its
parameters (surface.py); anything else is a 400 naming it, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from qs_codec import DecodeOptions, decode

from servers.stripe.errors import StripeError, invalid_parameter, unknown_parameter

# Deep enough for card[...] and metadata[...]; Stripe's own bound on metadata keys.
_OPTIONS = DecodeOptions(depth=3, parameter_limit=500, list_limit=100, strict_depth=True)
MAX_METADATA = 50


class Kind(Enum):
    STRING = "string"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    LIST = "list of strings"
    MAP = "map of strings"
    OBJECT = "object"


@dataclass(frozen=True)
class Param:
    kind: Kind
    # Non-empty: only part of Stripe's meaning is honoured, and this says which.
    partial: str = ""
    # Allowed values (Kind.STRING), Stripe's spelling.
    choices: tuple[str, ...] = ()
    # The fields of a Kind.OBJECT.
    fields: Mapping[str, Param] | None = None


def parse(text: str) -> dict[str, Any]:
    """A form body or a query string as nested values; malformed text is a 400."""
    if not text:
        return {}
    try:
        parsed = decode(text, _OPTIONS)
    except (ValueError, IndexError) as error:
        raise StripeError(
            400, "invalid_request_error", f"The request could not be parsed: {error}"
        ) from error
    return dict(parsed)


def check(
    values: Mapping[str, Any], declared: Mapping[str, Param], prefix: str = ""
) -> dict[str, Any]:
    """Values typed as declared: integers and booleans from their text, lists from qs's
    lists or indexed maps. Raises the 400 that names the first unknown or bad parameter."""
    checked: dict[str, Any] = {}
    for name, raw in values.items():
        full = f"{prefix}[{name}]" if prefix else name
        param = declared.get(name)
        if param is None:
            raise unknown_parameter(full)
        checked[name] = _value(full, raw, param)
    return checked


def _value(name: str, raw: Any, param: Param) -> Any:
    kind = param.kind
    if kind is Kind.OBJECT:
        if not isinstance(raw, Mapping):
            raise invalid_parameter(name, "expected a hash, e.g. " + f"{name}[field]=value.")
        return check(raw, param.fields or {}, name)
    if kind is Kind.MAP:
        if raw == "":  # metadata= clears in Stripe; here: nothing to set
            return {}
        if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
            raise invalid_parameter(name, f"expected a hash of strings, e.g. {name}[key]=value.")
        if len(raw) > MAX_METADATA:
            raise invalid_parameter(name, f"at most {MAX_METADATA} keys.")
        return {str(k): v for k, v in raw.items()}
    if kind is Kind.LIST:
        items = _list(raw)
        if items is None or not all(isinstance(v, str) for v in items):
            raise invalid_parameter(name, f"expected a list, e.g. {name}[0]=value.")
        return items
    if not isinstance(raw, str):
        raise invalid_parameter(name, "expected a single value.")
    if kind is Kind.INTEGER:
        if not raw.lstrip("-").isdigit():
            raise invalid_parameter(name, "expected an integer.")
        return int(raw)
    if kind is Kind.BOOLEAN:
        if raw not in ("true", "false"):
            raise invalid_parameter(name, "expected true or false.")
        return raw == "true"
    if param.choices and raw not in param.choices:
        raise invalid_parameter(name, f"must be one of {', '.join(param.choices)}.")
    return raw


def _list(raw: Any) -> list[Any] | None:
    if isinstance(raw, list):
        return raw
    if isinstance(raw, Mapping) and all(str(k).isdigit() for k in raw):
        return [raw[k] for k in sorted(raw, key=lambda k: int(k))]
    return None
