"""Load shedding at the edge: Envoy's local rate limit per route class
(PAYGATE_ENVOY_MAX_RPS, docs/operations.md "Load shedding at the edge").

The per-merchant limits (core/access/rate_limits.py) are the merchant's contract; this is
the gateway's: how many calls of a class per second the API processes behind this Envoy
are sized to serve. Beyond it Envoy refuses the call itself, before any API process
spends a millisecond on it, with the very status an API process sends for a rate limit:
RESOURCE_EXHAUSTED (HTTP 429), ErrorInfo reason RATE_LIMITED, a RetryInfo and
`retry-after`. It is off unless configured.

Envoy's filter runs after the transcoder, where every call (REST, gRPC-Web, gRPC) has its
gRPC path, so one route per class names the methods of the class; the reply is a gRPC
trailers-only answer that carries the status in `grpc-status-details-bin`, which the
transcoder turns into the same JSON body as an API error.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable
from typing import Any

from google.protobuf import json_format

from core.access.rate_limits import DEFAULT_CLASS, DEFAULT_LIMITS
from core.shared.errors import ResourceExhausted
from servers.grpc.errors import to_status

_TYPE = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
_ROUTE_FILTER_CONFIG = "type.googleapis.com/envoy.config.route.v3.FilterConfig"


def filter_name(route_class: str) -> str:
    return f"paygate.edge.{route_class}"


# A token bucket refills at least every 50 ms (Envoy's lower bound on fill_interval); a
# burst of at most this many seconds' worth passes at once, so that a spike after a quiet
# moment does not queue behind itself in the API processes.
MIN_FILL_SECONDS = 0.05
BURST_SECONDS = 0.1
RETRY_AFTER_SECONDS = 1

MESSAGE = (
    "Too many requests: the gateway is at capacity for this kind of call. "
    f"Retry after {RETRY_AFTER_SECONDS} s."
)


def parse_max_rps(text: str) -> dict[str, int]:
    """ "payments_create=150,default=400" -> {"payments_create": 150, "default": 400}."""
    limits: dict[str, int] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip() or DEFAULT_CLASS
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"PAYGATE_ENVOY_MAX_RPS: {part.strip()!r} is not class=calls/second")
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"PAYGATE_ENVOY_MAX_RPS: unknown route class {name!r}")
        limits[name] = int(value)
    return limits


def token_bucket(rps: int) -> dict[str, Any]:
    """A bucket that refills `rps` tokens a second in steps of at least MIN_FILL_SECONDS."""
    per_fill = math.ceil(rps * MIN_FILL_SECONDS)
    nanos = round(per_fill / rps * 1e9)
    return {
        "max_tokens": max(per_fill, math.ceil(rps * BURST_SECONDS)),
        "tokens_per_fill": per_fill,
        "fill_interval": f"{nanos // 10**9}.{nanos % 10**9:09d}s",
    }


def status_details() -> str:
    """The refusal's google.rpc.Status, as an API process would send it for a rate limit
    (servers/grpc/errors.py), base64 without padding as gRPC sends binary metadata."""
    error = ResourceExhausted(MESSAGE, retry_after_seconds=RETRY_AFTER_SECONDS)
    raw = to_status(error).SerializeToString()
    return base64.b64encode(raw).decode().rstrip("=")


def filters(limits: dict[str, int]) -> list[dict[str, Any]]:
    """One local rate limit filter per class, each with the class's one token bucket, so
    that every method of a class draws on the same bucket; `scoped` turns each off on
    every route but its class's."""
    always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
    return [
        {
            "name": filter_name(route_class),
            "typed_config": {
                "@type": _TYPE,
                "stat_prefix": f"edge_{route_class}",
                "token_bucket": token_bucket(rps),
                "filter_enabled": {**always, "runtime_key": "paygate.edge_limit.enabled"},
                "filter_enforced": {**always, "runtime_key": "paygate.edge_limit.enforced"},
                "rate_limited_as_resource_exhausted": True,
                "response_headers_to_add": [_header("retry-after", str(RETRY_AFTER_SECONDS))],
            },
        }
        for route_class, rps in limits.items()
    ]


def scoped(
    routes: list[dict[str, Any]],
    route_class: Callable[[dict[str, Any]], str],
    classes: Iterable[str],
) -> list[dict[str, Any]]:
    """`routes` with every class's filter turned off except on the routes of its class
    (`route_class(route)`, "" for none). Envoy takes no empty per-route configuration, so
    a filter shared by some routes is on by default and turned off on the others."""
    names = [filter_name(c) for c in classes]
    out = []
    for route in routes:
        own = filter_name(route_class(route)) if route_class(route) else ""
        off = {
            name: {"@type": _ROUTE_FILTER_CONFIG, "disabled": True} for name in names if name != own
        }
        out.append(
            {
                **route,
                "typed_per_filter_config": {**route.get("typed_per_filter_config", {}), **off},
            }
        )
    return out


def _header(key: str, value: str) -> dict[str, Any]:
    return {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}


def status_json() -> dict[str, Any]:
    """The refusal as the transcoder renders an API error for REST: the same Status."""
    error = ResourceExhausted(MESSAGE, retry_after_seconds=RETRY_AFTER_SECONDS)
    return json_format.MessageToDict(to_status(error), preserving_proto_field_name=True)


# Envoy makes a 429 only here. A gRPC or gRPC-Web caller gets a trailers-only answer whose
# grpc-message must be the Status' message (gRPC clients check that the two agree); the
# status itself travels in grpc-status-details-bin.
def grpc_reply_mapper(is_429: dict[str, Any]) -> dict[str, Any]:
    """`is_429`: the local reply filter for status 429 (envoy_config)."""
    return {
        "filter": {
            "and_filter": {
                "filters": [
                    is_429,
                    {
                        "header_filter": {
                            "header": {
                                "name": "content-type",
                                "string_match": {"prefix": "application/grpc"},
                            }
                        }
                    },
                    # A REST call says application/grpc too once transcoded, but has this.
                    {
                        "header_filter": {
                            "header": {
                                "name": "x-envoy-original-path",
                                "present_match": True,
                                "invert_match": True,
                            }
                        }
                    },
                ]
            }
        },
        "body_format_override": {"text_format_source": {"inline_string": MESSAGE}},
        "headers_to_add": [_header("grpc-status-details-bin", status_details())],
    }


def rest_reply_mapper(is_429: dict[str, Any]) -> dict[str, Any]:
    """A REST caller gets the JSON body the transcoder makes of the same Status."""
    return {"filter": is_429, "body_format_override": {"json_format": status_json()}}
