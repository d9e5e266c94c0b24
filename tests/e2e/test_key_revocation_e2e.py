"""A key revoked or rolled to an end through the API is refused at once on every API
process behind Envoy, not within the cache time: each process had it cached, and the
key change feed (NOTIFY api_key_changed, 0019_api_key_changes) tells them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.gateway import Gateway, Patient

pytestmark = pytest.mark.e2e

# Envoy picks an API process per request, round robin: this many calls in a row reach
# each of the gateway's processes several times.
CALLS = 12


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    # The seed merchant is shared by the session's tests: wait out its rate limits.
    with httpx.Client(base_url=gateway.rest_url, transport=Patient(), timeout=30) as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _balance_codes(http: httpx.Client, key: str) -> list[int]:
    return [http.get("/v1/balance", headers=_bearer(key)).status_code for _ in range(CALLS)]


def _new_key(http: httpx.Client, gateway: Gateway) -> dict[str, Any]:
    created = http.post(
        "/v1/api_keys", json={"type": "SECRET"}, headers=_bearer(gateway.secret_key)
    )
    assert created.status_code == 200, created.text
    key: dict[str, Any] = created.json()
    assert _balance_codes(http, key["secret"]) == [200] * CALLS  # cached on every process
    return key


@pytest.mark.parametrize(
    ("path", "body"),
    [("revoke", {}), ("roll", {"grace_period_seconds": 0})],
)
def test_a_key_ended_through_the_api_is_refused_by_every_process_at_once(
    http: httpx.Client, gateway: Gateway, path: str, body: dict[str, Any]
) -> None:
    key = _new_key(http, gateway)
    ended = http.post(
        f"/v1/api_keys/{key['id']}/{path}", json=body, headers=_bearer(gateway.secret_key)
    )
    assert ended.status_code == 200, ended.text
    assert _balance_codes(http, key["secret"]) == [401] * CALLS
    assert _balance_codes(http, gateway.secret_key) == [200] * CALLS
