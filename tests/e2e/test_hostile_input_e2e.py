"""Hostile input over REST through Envoy, against the real processes (issue: a probe of the
running gateway). Each test sweeps a whole class of input, driven from the API's own
descriptors (tests/e2e/rest_surface.py), not a list of remembered cases.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from servers.launcher import Gateway
from tests.e2e.rest_surface import FieldPath, RestRpc, rest_rpcs

NUL = "\u0000"


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
    with httpx.Client(base_url=gateway.rest_url, timeout=30) as http:
        response = http.request(method, url, json=body, headers=headers)
    assert response.status_code == 400, (method, url, body, response.text)
    error = response.json()
    violations = [
        violation["field"]
        for detail in error["details"]
        if detail["@type"].endswith("google.rpc.BadRequest")
        for violation in detail["field_violations"]
    ]
    assert field.expected_path() in violations, error
