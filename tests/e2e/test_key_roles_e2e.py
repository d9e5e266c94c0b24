"""The role ordering holds for every operation on API keys over REST through Envoy:
creating, rolling and revoking a key of role R needs a caller who may grant R
(core.access.roles.may_grant). A DEVELOPER or an ADMIN key could revoke an OWNER's key.
Every caller role that may manage keys against every role, from the roles' own table."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from core.access.roles import Role, may_grant, permissions_of
from tests.e2e.gateway import Gateway, Patient, sign_up

MANAGERS = [role for role in Role if "api_keys:write" in permissions_of(role)]


def _post(http: httpx.Client, url: str, headers: dict[str, str], body: Any) -> httpx.Response:
    return http.post(url, json=body, headers=headers)


@pytest.fixture(scope="module")
def owner(gateway: Gateway) -> dict[str, str]:
    """An OWNER's credentials: a user who signed up, acting in their account."""
    session = sign_up(gateway, secrets.token_urlsafe(18))
    return {
        "Authorization": f"Bearer {session['access_token']}",
        "Paygate-Account": session["accounts"][0]["account"]["id"],
    }


def _key(http: httpx.Client, headers: dict[str, str], role: Role) -> dict[str, Any]:
    created = _post(http, "/v1/api_keys", headers, {"type": "SECRET", "role": role.value})
    assert created.status_code == 200, created.text
    key: dict[str, Any] = created.json()
    return key


@pytest.mark.parametrize("operation", ["revoke", "roll"])
@pytest.mark.parametrize("caller_role", MANAGERS, ids=lambda r: r.value)
def test_a_key_is_managed_only_by_a_caller_who_could_grant_its_role(
    gateway: Gateway, owner: dict[str, str], caller_role: Role, operation: str
) -> None:
    # The matrix makes a burst of calls: the client waits out the rate limit.
    with httpx.Client(base_url=gateway.rest_url, transport=Patient(), timeout=30) as http:
        caller = {"Authorization": f"Bearer {_key(http, owner, caller_role)['secret']}"}
        for target_role in Role:
            target = _key(http, owner, target_role)
            answer = _post(http, f"/v1/api_keys/{target['id']}/{operation}", caller, {})
            if may_grant(caller_role, target_role):
                assert answer.status_code == 200, (target_role, answer.text)
            else:
                assert answer.status_code == 403, (target_role, answer.text)
                assert answer.json()["details"][0]["reason"] == "ROLE_NOT_GRANTABLE"
                # Untouched: the key still authenticates (a revoked one answers 401; a
                # role without api_keys:read answers 403).
                still = http.get(
                    "/v1/api_keys", headers={"Authorization": f"Bearer {target['secret']}"}
                )
                assert still.status_code in (200, 403), still.text
            # Creating one follows the same ordering.
            created = _post(
                http, "/v1/api_keys", caller, {"type": "SECRET", "role": target_role.value}
            )
            assert (created.status_code == 200) == may_grant(caller_role, target_role), created.text
