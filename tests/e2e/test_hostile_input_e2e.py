"""Hostile input over REST through Envoy, against the real processes (issue: a probe of the
running gateway). Each test sweeps a whole class of input, driven from the API's own
descriptors (tests/e2e/rest_surface.py), not a list of remembered cases.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.gateway import Gateway, Patient
from tests.e2e.rest_surface import FieldPath, RestRpc, rest_rpcs

NUL = "\u0000"


def _violations(error: dict[str, Any]) -> list[str]:
    return [
        violation["field"]
        for detail in error["details"]
        if detail["@type"].endswith("google.rpc.BadRequest")
        for violation in detail["field_violations"]
    ]


def _string_field_cases() -> list[Any]:
    cases = []
    for rpc in rest_rpcs():
        for field in rpc.string_fields():
            try:
                rpc.request_with(field, NUL)
            except LookupError:
                continue
            cases.append(pytest.param(rpc, field, id=f"{rpc.name}:{field}"))
    return cases


STRING_FIELD_CASES = _string_field_cases()


def test_the_sweep_covers_every_rpc_with_a_string_field() -> None:
    covered = {case.values[0].name for case in STRING_FIELD_CASES}
    with_strings = {rpc.name for rpc in rest_rpcs() if rpc.string_fields()}
    assert covered == with_strings
    assert len(STRING_FIELD_CASES) >= 60


@pytest.mark.parametrize(("rpc", "field"), STRING_FIELD_CASES)
def test_a_nul_in_any_string_field_is_invalid_argument_naming_it(
    gateway: Gateway, rpc: RestRpc, field: FieldPath
) -> None:
    method, url, body = rpc.request_with(field, f"a{NUL}b")
    headers = {"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": url[-40:]}
    with httpx.Client(base_url=gateway.rest_url, transport=Patient(), timeout=30) as http:
        response = http.request(method, url, json=body, headers=headers)
    assert response.status_code == 400, (method, url, body, response.text)
    error = response.json()
    assert field.expected_path() in _violations(error), error


def _lone_value_cases() -> list[Any]:
    """Every list-of-strings field that travels in a JSON body, sent as a lone string."""
    cases = []
    for rpc in rest_rpcs():
        for field in rpc.string_fields():
            if not field.repeated:
                continue
            _, _, body = rpc.request_with(field, "x")
            if body is not None:
                cases.append(pytest.param(rpc, field, id=f"{rpc.name}:{field}"))
    return cases


LONE_VALUE_CASES = _lone_value_cases()


def test_the_lone_value_sweep_reaches_the_lists_merchants_send() -> None:
    swept = {str(case.values[1]) for case in LONE_VALUE_CASES}
    assert {"payment_method_types", "enabled_events"} <= swept


@pytest.mark.parametrize(("rpc", "field"), LONE_VALUE_CASES)
def test_a_lone_value_where_a_list_belongs_is_refused_naming_the_field(
    gateway: Gateway, rpc: RestRpc, field: FieldPath
) -> None:
    # The transcoder alone would read "card" as ["card"]: a client's mistake that passes.
    method, url, body = rpc.request_with(FieldPath(field.names), "card")
    headers = {"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": url[-40:]}
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        response = http.request(method, url, json=body, headers=headers)
    assert response.status_code == 400, (method, url, body, response.text)
    error = response.json()
    assert error["code"] == 3
    assert field.names[-1] in error["message"], error
    assert error["details"][0]["reason"] == "INVALID_REQUEST"


# --- edge limits: bodies, headers, URLs -------------------------------------------------
# Every size on either side of each bound: the answer is the request's own (2xx or a
# 4xx naming a field) up to the bound and 413/431 with a JSON error past it, never a 429
# (a client that retries on 429 would loop), never a 5xx, and never flipping back.


def _refusal(response: httpx.Response) -> str | None:
    """The reason of Envoy's refusal for size, None when the request went through."""
    assert response.status_code != 429 and response.status_code < 500, response.text[:300]
    if response.status_code not in (413, 431):
        return None
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()
    return str(error["details"][0]["reason"])


def _sizes(bound: int) -> list[int]:
    return [bound // 4, bound // 2, bound - 2048, bound + 1024, 2 * bound, 3 * bound]


def test_request_bodies_are_bounded_at_the_edge(gateway: Gateway) -> None:
    from servers.runtime.envoy_config import MAX_REQUEST_BODY_BYTES

    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    seen: list[str | None] = []
    with httpx.Client(base_url=gateway.rest_url, headers=headers, timeout=60) as http:
        for size in _sizes(MAX_REQUEST_BODY_BYTES):
            body = '{"amount": 100, "currency": "usd", "description": "' + "x" * size + '"}'
            response = http.post(
                "/v1/payment_intents",
                content=body,
                headers={"Content-Type": "application/json", "Idempotency-Key": f"body-{size}"},
            )
            seen.append(_refusal(response))
            if seen[-1] is None:  # through to the API: refused for the field, not the size
                assert response.status_code == 400 and "description" in response.text
    assert seen == [None, None, None, *["REQUEST_TOO_LARGE"] * 3]


@pytest.mark.parametrize("where", ["header", "url", "query"])
def test_headers_and_urls_are_bounded_at_the_edge(gateway: Gateway, where: str) -> None:
    from servers.runtime.envoy_config import MAX_REQUEST_HEADERS_KB

    bound = MAX_REQUEST_HEADERS_KB * 1024
    seen: list[str | None] = []
    with httpx.Client(base_url=gateway.rest_url, transport=Patient(), timeout=30) as http:
        for size in _sizes(bound):
            headers = {"Authorization": f"Bearer {gateway.secret_key}"}
            url = "/v1/payment_intents"
            if where == "header":
                headers["X-Padding"] = "p" * size
            elif where == "url":
                url += "/pi_" + "a" * size
            else:
                url += "?starting_after=pi_" + "a" * size
            seen.append(_refusal(http.get(url, headers=headers)))
    assert seen == [None, None, None, *["HEADERS_TOO_LARGE"] * 3], seen


def test_the_largest_legitimate_request_goes_through(gateway: Gateway) -> None:
    """50 metadata entries of the longest key and value, every text field at its limit."""
    metadata = {f"{i:02d}".ljust(40, "k"): "v" * 500 for i in range(50)}
    body = {
        "amount": 100,
        "currency": "usd",
        "description": "d" * 1000,
        "metadata": metadata,
        "return_url": "https://shop.example/return?" + "q" * 1900,
        "receipt_email": "buyer@example.com",
    }
    headers = {"Authorization": f"Bearer {gateway.secret_key}", "Idempotency-Key": "i" * 255}
    with httpx.Client(
        base_url=gateway.rest_url, transport=Patient(), headers=headers, timeout=30
    ) as http:
        response = http.post("/v1/payment_intents", json=body)
    assert response.status_code == 200, response.text[:400]
    assert response.json()["metadata"] == metadata


# --- values that must be refused ----------------------------------------------------------

PANS = ["4242424242424242", "4242 4242 4242 4242", "3782-822463-10005"]
HOSTILE_RETURN_URLS = [
    "javascript:alert(1)",
    "JaVaScRiPt://shop.example/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "//shop.example/no-scheme",
    "https:///no-host",
    "https://shop.example/" + "a" * 10_000,
    "https://shop.example/with space",
]


def _rejected_field(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text[:300]
    return str(response.json()["details"][0]["metadata"]["param"])


@pytest.mark.parametrize("pan", PANS)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/payment_intents", {"description": "{pan}"}, "description"),
        ("/v1/payment_intents", {"metadata": {"card": "{pan}"}}, "metadata[card]"),
        ("/v1/payment_intents", {"metadata": {"note": "paid with {pan} ok"}}, "metadata[note]"),
        ("/v1/payouts", {"description": "card {pan}"}, "description"),
    ],
)
def test_a_card_number_in_free_text_is_refused(
    gateway: Gateway, pan: str, path: str, body: dict[str, Any], field: str
) -> None:
    import json

    filled = json.loads(json.dumps(body).replace("{pan}", pan))
    request = {"amount": 100, "currency": "usd", **filled}
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(
        base_url=gateway.rest_url, transport=Patient(), headers=headers, timeout=30
    ) as http:
        response = http.post(path, json=request)
    assert _rejected_field(response) == field
    assert (
        pan not in response.text and pan[-4:] in response.text
    ) or "card number" in response.text


@pytest.fixture(scope="module")
def open_intent(gateway: Gateway) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(transport=Patient()) as http:
        created = http.post(
            f"{gateway.rest_url}/v1/payment_intents",
            json={"amount": 100, "currency": "usd"},
            headers=headers,
        )
    assert created.status_code == 200, created.text
    intent: dict[str, Any] = created.json()
    return intent


@pytest.mark.parametrize("url", HOSTILE_RETURN_URLS)
def test_a_return_url_that_is_not_a_web_address_is_refused(
    gateway: Gateway, open_intent: dict[str, Any], url: str
) -> None:
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(
        base_url=gateway.rest_url, transport=Patient(), headers=headers, timeout=30
    ) as http:
        created = http.post(
            "/v1/payment_intents", json={"amount": 100, "currency": "usd", "return_url": url}
        )
        assert _rejected_field(created) == "return_url"
        intent = open_intent
        confirmed = http.post(
            f"/v1/payment_intents/{intent['id']}/confirm",
            json={"payment_method": "tok_unknown", "return_url": url},
        )
        assert confirmed.status_code == 400, confirmed.text[:300]
        assert "return_url" in _violations(confirmed.json())


LISTS = [rpc for rpc in rest_rpcs() if "starting_after" in {str(f) for f in rpc.string_fields()}]


def test_every_list_is_swept() -> None:
    assert len(LISTS) >= 9


@pytest.mark.parametrize("rpc", LISTS, ids=lambda rpc: rpc.name)
@pytest.mark.parametrize("cursor", ["nothing_here", "pi_01m94zzzzzzzzzzzzzzzzzzzzz"])
def test_an_unknown_cursor_is_an_error_naming_it(
    gateway: Gateway, rpc: RestRpc, cursor: str
) -> None:
    """Not an empty page, which a client would take for the end of the list."""
    headers = {"Authorization": f"Bearer {gateway.secret_key}"}
    with httpx.Client(
        base_url=gateway.rest_url, transport=Patient(), headers=headers, timeout=30
    ) as http:
        params = {"starting_after": cursor, **_required_scope(http, rpc)}
        response = http.get(rpc.url({}), params=params)
    assert _rejected_field(response) == "starting_after"


def _required_scope(http: httpx.Client, rpc: RestRpc) -> dict[str, str]:
    """The filter a list cannot do without (a delivery log is an event's or an
    endpoint's), so that the cursor is what the answer is about."""
    if rpc.method != "ListWebhookDeliveries":
        return {}
    created = http.post("/v1/payment_intents", json={"amount": 100, "currency": "usd"})
    assert created.status_code == 200, created.text[:300]
    events = http.get("/v1/events", params={"limit": 1}).json()["data"]
    return {"event": events[0]["id"]}
