"""A key revoked or rolled to an end through the API is refused at once on every API
process behind Envoy (as soon as the notification arrives, not within the cache time):
each process had it cached, and the key change feed (NOTIFY api_key_changed,
0019_api_key_changes) tells them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.gateway import Gateway, Patient

pytestmark = pytest.mark.e2e

# Envoy picks an API process per request, round robin: this many calls in a row reach
# each of the gateway's processes several times.
CALLS = 12
TRIES = 20


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    # The seed merchant is shared by the session's tests: wait out its rate limits.
    with httpx.Client(base_url=gateway.rest_url, transport=Patient(), timeout=30) as client:
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _balance_codes(http: httpx.Client, key: str, calls: int = CALLS) -> list[int]:
    return [http.get("/v1/balance", headers=_bearer(key)).status_code for _ in range(calls)]


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
    # The notification reaches the other process milliseconds after the commit: a call
    # sent the moment the answer arrives may still beat it there. A short bounded wait for
    # both processes to refuse (far below the 5 s the cache would take)...
    for _ in range(TRIES):
        if _balance_codes(http, key["secret"], 2) == [401, 401]:
            break
        time.sleep(0.01)
    # ...then refused on every call, whichever process takes it.
    assert _balance_codes(http, key["secret"]) == [401] * CALLS
    assert _balance_codes(http, gateway.secret_key) == [200] * CALLS
