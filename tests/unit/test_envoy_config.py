"""Rendering envoy/envoy.yaml.tmpl: Envoy accepts the result, and it holds what we meant."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import descriptor_pb2
from google.rpc import status_pb2

from core.shared.errors import ResourceExhausted
from servers.grpc.errors import to_status
from servers.runtime import edge_limits, envoy_config
from servers.runtime.settings import Settings

SETTINGS = Settings(
    data_dir=Path("/nonexistent"),
    http_port=18080,
    grpc_port=15051,
    envoy_admin_port=19901,
    api_processes=3,
    api_base_port=40061,
)


@pytest.fixture(scope="module")
def rendered() -> str:
    return envoy_config.render(SETTINGS, envoy_config.descriptor_path())


def test_envoy_accepts_the_rendered_config(rendered: str, tmp_path: Path) -> None:
    # Envoy's own YAML parser and proto validation: the strictest check there is.
    config = tmp_path / "envoy.yaml"
    config.write_text(rendered)
    envoy_config.validate(config)


def test_no_placeholder_is_left(rendered: str) -> None:
    assert "${" not in rendered


def test_every_api_process_is_an_upstream_endpoint(rendered: str) -> None:
    line = next(x for x in rendered.splitlines() if "lb_endpoints:" in x)
    endpoints = json.loads(line.split("lb_endpoints:", 1)[1])
    addresses = [e["endpoint"]["address"]["socket_address"] for e in endpoints]
    assert addresses == [
        {"address": "127.0.0.1", "port_value": 40061},
        {"address": "127.0.0.1", "port_value": 40062},
        {"address": "127.0.0.1", "port_value": 40063},
    ]
    assert "lb_policy: ROUND_ROBIN" in rendered
    assert "http2_protocol_options: {}" in rendered


def test_the_transcoder_serves_every_public_service(rendered: str) -> None:
    line = next(x for x in rendered.splitlines() if x.strip().startswith("services:"))
    services = json.loads(line.split("services:", 1)[1])
    # Exactly what the API role serves (servers/roles/api.py), discovered from proto/.
    from servers.roles.api import PAGE_SERVICES, SERVICES

    assert set(services) == {s.descriptor.full_name for s in (*SERVICES, *PAGE_SERVICES)}
    assert {"paygate.v1.PaymentIntentService", "paygate.v1.BalanceService"} <= set(services)
    descriptor = re.search(r"proto_descriptor: (.*)", rendered)
    assert descriptor is not None
    assert Path(json.loads(descriptor.group(1))) == envoy_config.DESCRIPTOR.resolve()


def test_transcoder_options_are_the_documented_ones(rendered: str) -> None:
    for option in (
        "convert_grpc_status: true",
        "preserve_proto_field_names: true",
        "always_print_primitive_fields: true",
        "reject_unknown_method: true",
        "reject_unknown_query_parameters: true",
    ):
        assert option in rendered
    # gRPC-Web must come before the transcoder.
    assert rendered.index("envoy.filters.http.grpc_web") < rendered.index(
        "envoy.filters.http.grpc_json_transcoder\n"
    )


def test_listeners_and_admin_addresses(rendered: str) -> None:
    assert "socket_address: {address: 0.0.0.0, port_value: 18080}" in rendered
    assert "socket_address: {address: 0.0.0.0, port_value: 15051}" in rendered
    assert "socket_address: {address: 127.0.0.1, port_value: 19901}" in rendered
    assert "codec_type: HTTP2" in rendered  # the native gRPC listener


def _descriptor_set(tmp_path: Path) -> Path:
    """paygate.v1 with two services (one streaming method), plus a service elsewhere."""
    public = descriptor_pb2.FileDescriptorProto(name="paygate/v1/x.proto", package="paygate.v1")
    public.message_type.add(name="M")
    refunds = public.service.add(name="RefundService")
    refunds.method.add(name="GetRefund", input_type=".paygate.v1.M", output_type=".paygate.v1.M")
    watch = public.service.add(name="WatchService")
    watch.method.add(
        name="Watch",
        input_type=".paygate.v1.M",
        output_type=".paygate.v1.M",
        server_streaming=True,
    )
    internal = descriptor_pb2.FileDescriptorProto(
        name="paygate/internal/v1/y.proto", package="paygate.internal.v1"
    )
    internal.message_type.add(name="N")
    internal.service.add(name="Admin")
    path = tmp_path / "set.binpb"
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=[public, internal]).SerializeToString())
    return path


def test_services_and_streams_are_read_from_the_descriptor(tmp_path: Path) -> None:
    api = envoy_config.read_descriptor(_descriptor_set(tmp_path))
    assert api.services == ("paygate.v1.RefundService", "paygate.v1.WatchService")
    assert api.server_streaming == ("/paygate.v1.WatchService/Watch",)


def test_streams_have_no_route_timeout_and_internal_services_no_route(tmp_path: Path) -> None:
    text = envoy_config.render(SETTINGS, _descriptor_set(tmp_path))
    rest_routes = json.loads(re.search(r"routes: (\[.*\])", text).group(1))  # type: ignore[union-attr]
    stream = next(r for r in rest_routes if r["match"].get("path"))
    assert stream["match"]["path"] == "/paygate.v1.WatchService/Watch"
    assert stream["route"]["timeout"] == "0s"
    assert rest_routes[-1]["match"] == {"prefix": "/"}
    assert rest_routes[-1]["route"]["timeout"] == envoy_config.UNARY_TIMEOUT
    grpc_line = [x for x in text.splitlines() if x.strip().startswith("routes:")][1]
    grpc_routes = json.loads(grpc_line.split("routes:", 1)[1])
    grpc_prefixes = [r["match"]["prefix"] for r in grpc_routes if "prefix" in r["match"]]
    guards = len(envoy_config.CREDENTIAL_HEADERS)
    assert all(r["direct_response"]["status"] == 401 for r in grpc_routes[:guards])
    assert grpc_routes[guards]["match"] == {"path": "/paygate.v1.WatchService/Watch"}
    assert "/paygate.v1.RefundService/" in grpc_prefixes
    assert "/grpc.health.v1.Health/" in grpc_prefixes
    assert not any("internal" in p for p in grpc_prefixes)


def test_a_descriptor_without_public_services_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.binpb"
    path.write_bytes(descriptor_pb2.FileDescriptorSet().SerializeToString())
    with pytest.raises(ValueError, match=r"no service in package paygate\.v1"):
        envoy_config.read_descriptor(path)


def test_write_puts_envoy_yaml_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    path = envoy_config.write(settings, envoy_config.descriptor_path())
    assert path == tmp_path / "var" / "envoy.yaml"
    assert "port_value: 8080" in path.read_text()


# --- the web role --------------------------------------------------------------------


def _routes(text: str) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The REST listener's routes and the gRPC listener's."""
    lines = [x for x in text.splitlines() if x.strip().startswith("routes:")]
    rest, grpc_ = (json.loads(line.split("routes:", 1)[1]) for line in lines)
    return rest, grpc_


def _cluster_endpoints(text: str, name: str) -> list[dict[str, object]]:
    block = text.split(f"cluster_name: {name}", 1)[1]
    line = next(x for x in block.splitlines() if "lb_endpoints:" in x)
    endpoints = json.loads(line.split("lb_endpoints:", 1)[1])
    return [e["endpoint"]["address"]["socket_address"] for e in endpoints]


def test_the_checkout_and_dashboard_pages_go_to_the_web_cluster(rendered: str) -> None:
    rest, grpc_ = _routes(rendered)
    by_prefix = {r["match"].get("prefix"): r for r in rest}  # type: ignore[union-attr]
    pages = ("/paygate.v1.CheckoutPageService/", "/3ds/", "/paygate.v1.DashboardPageService/")
    for prefix in (*pages, "/dashboard"):
        route = by_prefix[prefix]["route"]
        assert route["cluster"] == "web"  # type: ignore[index]
        assert route["timeout"] == envoy_config.UNARY_TIMEOUT  # type: ignore[index]
    # Ahead of the catch-all, which stays the API's.
    assert rest[-1]["match"] == {"prefix": "/"} and rest[-1]["route"]["cluster"] == "api"  # type: ignore[index]
    clusters = {
        r["match"].get("prefix") or r["match"]["path"]: r["route"]["cluster"]  # type: ignore[union-attr, index]
        for r in grpc_
        if "route" in r  # not the credential guards, which answer 401 themselves
    }
    assert clusters["/paygate.v1.CheckoutPageService/"] == "web"
    assert clusters["/paygate.v1.DashboardPageService/"] == "web"
    assert clusters["/paygate.v1.PaymentIntentService/"] == "api"


def test_server_streams_outlive_the_longest_quiet_watch(rendered: str) -> None:
    """No route timeout, and an idle timeout above Settings.watch_max_seconds (Envoy's
    default of 5 minutes would cut a quiet 10-minute watch), on both listeners."""
    for routes in _routes(rendered):
        watch = next(
            r
            for r in routes
            if r["match"].get("path") == "/paygate.v1.PaymentIntentService/WatchPaymentIntent"  # type: ignore[union-attr]
        )
        assert watch["route"]["timeout"] == "0s"  # type: ignore[index]
        idle = watch["route"]["idle_timeout"]  # type: ignore[index]
        assert idle == f"{int(SETTINGS.watch_max_seconds) + 60}s"
        assert int(idle.rstrip("s")) > SETTINGS.watch_max_seconds
        assert routes.index(watch) < len(routes) - 1  # ahead of the prefixes


def test_the_web_cluster_is_the_web_process_or_else_the_api_processes() -> None:
    descriptor = envoy_config.descriptor_path()
    split = envoy_config.render(SETTINGS, descriptor)
    assert _cluster_endpoints(split, "web") == [
        {"address": "127.0.0.1", "port_value": SETTINGS.web_port}
    ]
    embedded = envoy_config.render(replace(SETTINGS, web_port=0), descriptor)
    assert _cluster_endpoints(embedded, "web") == _cluster_endpoints(embedded, "api")
    assert len(_cluster_endpoints(embedded, "api")) == SETTINGS.api_processes


def test_envoy_knows_every_service_the_web_role_serves() -> None:
    from servers.roles.api import PAGE_SERVICES

    assert {s.descriptor.full_name for s in PAGE_SERVICES} == set(envoy_config.WEB_SERVICES)


def test_no_bound_method_is_answered_405_on_any_of_its_paths() -> None:
    """Each REST binding's path, called with its own method, passes every 405 route: two
    templates whose regexes overlap must not shadow each other's methods."""
    api = envoy_config.read_descriptor(envoy_config.descriptor_path())
    assert len(api.http_rules) >= 40
    allowed = envoy_config.allowed_methods(api)
    for verb, template in api.http_rules:
        sample = re.sub(r"\{[^}]*\}", "x_1", template)
        for regex, verbs in allowed.items():
            if re.fullmatch(regex.strip("^$"), sample):
                assert verb in verbs, (verb, template, regex)


def test_methods_needing_a_credential_are_those_not_marked_unauthenticated() -> None:
    api = envoy_config.read_descriptor(envoy_config.descriptor_path())
    open_paths = {template for verb, template in api.http_rules} - {
        template for verb, template in api.authenticated_rules
    }
    assert open_paths == {
        "/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout",
        "/3ds/{attempt}", "/checkout/{payment_intent}", "/checkout/assets/{name}", "/js/v1/{name}",
        "/dashboard", "/dashboard/assets/{name}",
    }  # fmt: skip


def test_the_rest_access_log_never_prints_the_raw_path() -> None:
    """A card number typed where an id belongs, or a client secret in the query, must not
    reach Envoy's log: REST lines show the path the Lua filter made loggable."""
    fields = envoy_config._access_log("rest")[0]["typed_config"]["log_format"]["json_format"]
    assert fields["path"] == "%DYNAMIC_METADATA(paygate:path)%"
    assert not any("PATH)" in str(value) for key, value in fields.items() if key != "path")
    template = envoy_config.TEMPLATE.read_text()
    assert 'dynamicMetadata():set("paygate", "path"' in template


def test_the_stripe_prefix_goes_to_its_role_past_paygates_body_filters(rendered: str) -> None:
    rest, grpc_ = _routes(rendered)
    index = next(i for i, r in enumerate(rest) if r["match"].get("prefix") == "/stripe/")  # type: ignore[union-attr]
    route = rest[index]
    assert route["route"]["cluster"] == "stripe"  # type: ignore[index]
    disabled = {
        name
        for name, config in route["typed_per_filter_config"].items()  # type: ignore[attr-defined]
        if config["disabled"]
    }
    assert disabled == {
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.grpc_web",
        "paygate.list_guard",
    }
    # Every name it turns off is a filter of the REST chain.
    for name in disabled:
        assert f"- name: {name}\n" in rendered
    # Before any route that answers for paygate's own REST paths, after the credential guards.
    assert all(
        "direct_response" in r and r["direct_response"]["status"] == 401 for r in rest[:index]
    )  # type: ignore[index, operator]
    assert _cluster_endpoints(rendered, "stripe") == [
        {"address": "127.0.0.1", "port_value": SETTINGS.stripe_port}
    ]
    assert all(r.get("route", {}).get("cluster") != "stripe" for r in grpc_)  # type: ignore[union-attr]


def test_without_a_stripe_role_there_is_no_stripe_route() -> None:
    text = envoy_config.render(replace(SETTINGS, stripe_port=0), envoy_config.descriptor_path())
    rest, _ = _routes(text)
    assert all(r["match"].get("prefix") != "/stripe/" for r in rest)  # type: ignore[union-attr]
    assert _cluster_endpoints(text, "stripe") == []


def test_envoy_balances_the_web_processes_and_extra_processes_follow_the_api_ports() -> None:
    settings = replace(
        SETTINGS, api_processes=2, api_base_port=50061, worker_processes=2, web_processes=3
    )
    assert envoy_config.worker_endpoints(settings) == [
        ("127.0.0.1", settings.worker_port),
        ("127.0.0.1", 50063),
    ]
    assert envoy_config.web_processes(settings) == [
        ("127.0.0.1", settings.web_port),
        ("127.0.0.1", 50064),
        ("127.0.0.1", 50065),
    ]
    rendered = envoy_config.render(settings, envoy_config.descriptor_path())
    assert _cluster_endpoints(rendered, "web") == [
        {"address": host, "port_value": port} for host, port in envoy_config.web_processes(settings)
    ]
    # Every local process on a port of its own.
    ports = [
        port
        for endpoints in (
            envoy_config.api_endpoints,
            envoy_config.worker_endpoints,
            envoy_config.web_processes,
        )
        for _, port in endpoints(settings)
    ]
    assert len(ports) == len(set(ports)) == 7


def test_no_local_worker_or_web_process_when_their_count_is_zero() -> None:
    none = replace(SETTINGS, worker_processes=0, web_processes=0)
    assert envoy_config.worker_endpoints(none) == []
    assert envoy_config.web_endpoints(none) == envoy_config.api_endpoints(none)


def test_the_fault_filter_is_absent_unless_asked_for(rendered: str) -> None:
    assert "envoy.filters.http.fault" not in rendered
    assert Settings().envoy_fault_injection is False
    off = Settings.from_env({"PAYGATE_ENVOY_FAULT_INJECTION": "false"})
    assert off.envoy_fault_injection is False


def test_with_fault_injection_the_fault_filter_runs_first_on_rest(tmp_path: Path) -> None:
    rendered = envoy_config.render(
        replace(SETTINGS, envoy_fault_injection=True), envoy_config.descriptor_path()
    )
    rest, grpc = rendered.split("\n  - name: grpc\n", 1)
    filters = rest.split("http_filters:\n", 1)[1]
    first = json.loads(filters.splitlines()[0].strip().removeprefix("- "))
    assert first == envoy_config.FAULT_FILTER
    assert "envoy.filters.http.fault" not in grpc
    config = tmp_path / "envoy.yaml"
    config.write_text(rendered)
    envoy_config.validate(config)
    assert Settings.from_env({"PAYGATE_ENVOY_FAULT_INJECTION": "1"}).envoy_fault_injection


def test_the_list_guard_runs_only_where_a_body_can_hold_a_list(rendered: str) -> None:
    """A GET (or a body without list fields) never enters Lua for the guard; every binding
    whose body holds a list field reaches it, on the cluster the catch-alls would pick."""
    rest, _ = _routes(rendered)
    guarded = [r for r in rest if envoy_config.LIST_GUARD in r.get("typed_per_filter_config", {})]  # type: ignore[operator]
    on = [
        r
        for r in guarded
        if not r["typed_per_filter_config"][envoy_config.LIST_GUARD].get("disabled")
    ]  # type: ignore[index]
    api = envoy_config.read_descriptor(envoy_config.descriptor_path())
    assert ("POST", "/v1/payment_intents") in api.list_body_rules
    assert all(verb != "GET" for verb, _ in api.list_body_rules)
    for verb, template in api.list_body_rules:
        sample = re.sub(r"\{[^}]*\}", "x_1", template)
        route = first_match(rest, verb, sample, {"authorization": "Bearer sk_test_x"})
        assert route in on, (verb, template)
        web = template.startswith(envoy_config.WEB_PATH_PREFIXES)
        assert route["route"]["cluster"] == ("web" if web else "api")  # type: ignore[index]
    for verb, template in api.http_rules:
        if (verb, template) not in api.list_body_rules:
            sample = re.sub(r"\{[^}]*\}", "x_1", template)
            route = first_match(rest, verb, sample, {"authorization": "Bearer sk_test_x"})
            assert route not in on, (verb, template)
    assert (
        "default_source_code"
        not in rendered.split("name: paygate.list_guard", 1)[1].split("- name:", 1)[0]
    )


def test_tokens_go_to_the_vault_role_when_it_serves_them(tmp_path: Path) -> None:
    descriptor = envoy_config.descriptor_path()
    split = envoy_config.render(
        replace(SETTINGS, envoy_vault_upstream="127.0.0.1:40071"), descriptor
    )
    config = tmp_path / "envoy.yaml"
    config.write_text(split)
    envoy_config.validate(config)
    for routes in _routes(split):
        tokens = next(
            r
            for r in routes
            if r["match"].get("prefix") == "/paygate.v1.TokenService/"  # type: ignore[union-attr]
        )
        assert tokens["route"]["cluster"] == envoy_config.TOKENS_CLUSTER  # type: ignore[index]
        # Ahead of the catch-all and of the per-service routes to the API processes.
        assert routes.index(tokens) < len(routes) - 1
        later = routes[routes.index(tokens) + 1 :]
        assert not any(r["match"].get("prefix") == "/paygate.v1.TokenService/" for r in later)  # type: ignore[union-attr]
    clusters = {c["name"]: c for c in yaml.safe_load(split)["static_resources"]["clusters"]}
    (endpoints,) = clusters[envoy_config.TOKENS_CLUSTER]["load_assignment"]["endpoints"]
    address = endpoints["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address == {"address": "127.0.0.1", "port_value": 40071}
    # Without it, tokens go to the API processes with everything else.
    embedded = envoy_config.render(SETTINGS, descriptor)
    names = [c["name"] for c in yaml.safe_load(embedded)["static_resources"]["clusters"]]
    assert envoy_config.TOKENS_CLUSTER not in names


def test_no_edge_limit_unless_configured(rendered: str) -> None:
    assert Settings().envoy_max_rps == ""
    assert "local_ratelimit" not in rendered


def test_an_edge_limit_turns_its_class_filter_on_only_on_the_routes_of_its_methods(
    tmp_path: Path,
) -> None:
    settings = replace(SETTINGS, envoy_max_rps="payments_create=150")
    rendered = envoy_config.render(settings, envoy_config.descriptor_path())
    config = tmp_path / "envoy.yaml"
    config.write_text(rendered)
    envoy_config.validate(config)
    name = edge_limits.filter_name("payments_create")
    create = "/paygate.v1.PaymentIntentService/CreatePaymentIntent"
    for routes in _routes(rendered):
        on = [
            r
            for r in routes
            if "route" in r
            and not r.get("typed_per_filter_config", {}).get(name, {}).get("disabled")  # type: ignore[attr-defined]
        ]
        # The method's gRPC path on both listeners, and its REST binding on the REST one.
        assert {str(r["match"].get("path") or r["match"]["safe_regex"]["regex"]) for r in on} <= {  # type: ignore[attr-defined,index]
            create,
            "^/v1/payment_intents$",
        }
        assert any(r["match"].get("path") == create for r in on)  # type: ignore[attr-defined]
    # One filter, before the router, in each listener, with one bucket of 150 a second.
    filters = [x for x in rendered.splitlines() if x.strip().startswith(f'- {{"name": "{name}"')]
    assert len(filters) == 2
    bucket = json.loads(filters[0].strip().removeprefix("- "))["typed_config"]["token_bucket"]
    assert bucket == {"max_tokens": 15, "tokens_per_fill": 8, "fill_interval": "0.053333333s"}


def test_the_edge_refusal_carries_the_status_the_api_sends_for_a_rate_limit() -> None:
    status = status_pb2.Status.FromString(base64.b64decode(edge_limits.status_details() + "=="))
    assert status == to_status(
        ResourceExhausted(edge_limits.MESSAGE, retry_after_seconds=edge_limits.RETRY_AFTER_SECONDS)
    )
    assert edge_limits.status_json()["details"][0]["reason"] == "RATE_LIMITED"


@pytest.mark.parametrize("text", ["payments_create", "nope=5", "default=0", "default=x"])
def test_a_wrong_edge_limit_stops_the_render(text: str) -> None:
    with pytest.raises(ValueError, match="PAYGATE_ENVOY_MAX_RPS"):
        edge_limits.parse_max_rps(text)
    assert edge_limits.parse_max_rps("payments_create=150, default=400") == {
        "payments_create": 150,
        "default": 400,
    }


# --- route matching ---------------------------------------------------------------------


def _header_matches(matcher: dict[str, Any], headers: dict[str, str]) -> bool:
    """Envoy's HeaderMatcher (HeaderUtility::matchHeaders) for the kinds the renderer uses:
    a missing header matches only `present_match: false`, whatever invert_match says."""
    value = headers.get(matcher["name"])
    invert = matcher.get("invert_match", False)
    if value is None:
        present = matcher.get("present_match")
        return present is not None and present is invert
    if "present_match" in matcher:
        found = bool(matcher["present_match"])
    else:
        string = matcher["string_match"]
        if "exact" in string:
            found = value == string["exact"]
        else:
            found = re.fullmatch(string["safe_regex"]["regex"], value) is not None
    return found != invert


def first_match(
    routes: list[dict[str, Any]], method: str, path: str, headers: dict[str, str]
) -> dict[str, Any] | None:
    """The route Envoy picks: the first whose path and every header matcher match (the
    path without its query; a safe_regex matches the whole of it)."""
    bare = path.split("?", 1)[0]
    request = {**headers, ":method": method, ":path": path}
    for route in routes:
        match = route["match"]
        if "prefix" in match:
            hit = bare.startswith(match["prefix"])
        elif "path" in match:
            hit = bare == match["path"]
        else:
            hit = re.fullmatch(match["safe_regex"]["regex"], bare) is not None
        if hit and all(_header_matches(h, request) for h in match.get("headers", ())):
            return route
    return None


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "QUERY")


def _requests(api: envoy_config.ApiDescriptor) -> list[tuple[str, str, dict[str, str]]]:
    """Every REST path of the API (ids of several shapes), its near misses, gRPC paths,
    with every method, with and without credentials (a bad one too)."""
    paths = {"/", "", "/v1/nope", "/v1/payment_intents/", "//v1/payment_intents", "/V1/balance"}
    for _, template in api.http_rules:
        for value in ("pi_1", "x", "a.b", "%41", "x:y"):
            sample = re.sub(r"\{[^}]*\}", value, template)
            paths |= {sample, sample + "/", sample + "/extra", sample + "?a=1&b=/x"}
    paths |= {f"/{service}/Anything" for service in api.services}
    paths |= {"/paygate.v1.PaymentIntentService/WatchPaymentIntent", "/paygate.internal.v1.X/Y"}
    credentials: list[dict[str, str]] = [
        {},
        {"authorization": "Bearer sk_test_x"},
        {"authorization": "Bearer sk_test_\u00a0"},
        {"paygate-account": "acct_1", "authorization": "Bearer eyJ.x.y"},
    ]
    return [(m, p, h) for p in sorted(paths) for m in METHODS for h in credentials]


def _acts(route: dict[str, Any] | None) -> str:
    return json.dumps(route and {k: v for k, v in route.items() if k != "match"}, sort_keys=True)


@pytest.mark.parametrize(
    ("stripe", "edge_limits"), [(False, ""), (True, ""), (True, "payments_create=150,default=9")]
)
def test_merging_routes_changes_no_requests_answer(
    stripe: bool, edge_limits: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Merged, the REST routes answer every request as the route per path did: the same
    405 and Allow, the same 401, the same upstream and filters (edge limits included), for
    every documented path and method, near misses, unknown paths and gRPC paths (after the
    transcoder)."""
    api = envoy_config.read_descriptor(envoy_config.descriptor_path())
    settings = replace(SETTINGS, stripe_port=4300 if stripe else 0, envoy_max_rps=edge_limits)

    def routes() -> list[dict[str, Any]]:
        return envoy_config._with_edge_limits(
            api, settings, envoy_config._rest_routes(api, settings)
        )

    merged = routes()
    monkeypatch.setattr(envoy_config, "merged", lambda routes: routes)
    each = routes()
    assert len(each) - len(merged) > 90  # the edge limits' routes (one per method) stay
    for method, path, headers in _requests(api):
        assert _acts(first_match(merged, method, path, headers)) == _acts(
            first_match(each, method, path, headers)
        ), (method, path, headers)


def test_routes_are_merged_only_past_routes_that_cannot_match_their_paths() -> None:
    """A route never moves ahead of a route acting otherwise that matches one of its
    paths; one that cannot be told apart (any other regex) stays where it is."""

    def route(regex: str, status: int) -> dict[str, Any]:
        return {"match": {"safe_regex": {"regex": regex}}, "direct_response": {"status": status}}

    a = envoy_config.path_regex("/v1/things/{id}")
    b = envoy_config.path_regex("/v1/things/search")
    c = envoy_config.path_regex("/v1/other/{id}")
    assert len(envoy_config.merged([route(a, 405), route(b, 401), route(b, 405)])) == 3
    assert len(envoy_config.merged([route(a, 405), route(c, 401), route(b, 405)])) == 2
    assert len(envoy_config.merged([route(a, 405), route("^/v1/.*$", 401), route(c, 405)])) == 3
    prefix = {"match": {"prefix": "/v1/other/"}, "direct_response": {"status": 404}}
    assert len(envoy_config.merged([route(a, 405), prefix, route(c, 405)])) == 3
    together = envoy_config.merged([route(a, 405), route(c, 405)])
    assert together[0]["match"]["safe_regex"]["regex"] == ("^(?:/v1/things/[^/]+|/v1/other/[^/]+)$")


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_envoy_runs_half_the_cores_worth_of_workers(cores: int, workers: int) -> None:
    assert envoy_config.envoy_workers(cores) == workers


def test_the_launchers_envoy_command_names_its_worker_count(tmp_path: Path) -> None:
    config = tmp_path / "envoy.yaml"
    argv = list(envoy_config.envoy_command(config))
    assert argv[argv.index("--concurrency") + 1] == str(envoy_config.envoy_workers())
    argv = list(envoy_config.envoy_command(config, concurrency=3))
    assert argv[argv.index("--concurrency") + 1] == "3"
    assert argv.count("--concurrency") == 1
