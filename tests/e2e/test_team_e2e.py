"""The team's pending invitations over REST through Envoy: listed without their tokens,
accepted, revoked and re-sent, each link refused once it is no longer the live one."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.e2e.gateway import Gateway, sign_up


def user(gateway: Gateway) -> tuple[str, dict[str, str]]:
    """A new user's email and the headers of their session in their own account."""
    session = sign_up(gateway, secrets.token_urlsafe(18))
    headers = {
        "Authorization": f"Bearer {session['access_token']}",
        "Paygate-Account": session["accounts"][0]["account"]["id"],
    }
    return session["user"]["email"], headers


def once() -> dict[str, str]:
    return {"Idempotency-Key": secrets.token_hex(8)}


async def accept(rest: httpx.AsyncClient, headers: dict[str, str], token: str) -> httpx.Response:
    signed_in = {"Authorization": headers["Authorization"]}  # no account: joining one
    return await rest.post(f"/v1/invitations/{token}/accept", json={}, headers=signed_in | once())


async def pending(rest: httpx.AsyncClient, owner: dict[str, str]) -> list[dict[str, Any]]:
    listed = await rest.get("/v1/invitations", params={"status": "PENDING"}, headers=owner)
    assert listed.status_code == 200, listed.text
    data: list[dict[str, Any]] = listed.json()["data"]
    return data


async def test_invitations_are_listed_until_accepted_and_a_revoked_link_is_refused(
    gateway: Gateway, rest: httpx.AsyncClient
) -> None:
    owner_email, owner = user(gateway)
    colleague_email, colleague = user(gateway)
    invited = await rest.post(
        "/v1/invitations", json={"email": colleague_email, "role": "STAFF"}, headers=owner | once()
    )
    assert invited.status_code == 200, invited.text
    invitation, token = invited.json(), invited.json()["token"]
    assert token.startswith("invtok_") and invitation["status"] == "PENDING"

    listed = await rest.get("/v1/invitations", params={"status": "PENDING"}, headers=owner)
    assert token not in listed.text  # the secret is never listed
    (shown,) = listed.json()["data"]
    assert (shown["id"], shown["email"], shown["role"], shown["status"], shown["token"]) == (
        invitation["id"], colleague_email, "STAFF", "PENDING", "",
    )  # fmt: skip
    assert shown["invited_by"].startswith("usr_") and shown["expires_at"] > shown["created"]

    assert (await accept(rest, colleague, token)).status_code == 200
    assert await pending(rest, owner) == []
    everything = (await rest.get("/v1/invitations", headers=owner)).json()["data"]
    assert [(i["id"], i["status"]) for i in everything] == [(invitation["id"], "ACCEPTED")]
    accepted_again = await rest.post(
        f"/v1/invitations/{invitation['id']}/revoke", json={}, headers=owner | once()
    )
    assert accepted_again.status_code == 400, accepted_again.text  # FAILED_PRECONDITION
    assert "INVITATION_NOT_PENDING" in accepted_again.text

    # A STAFF member may see the team but not the invitations (members:write, as inviting).
    staff = {**colleague, "Paygate-Account": owner["Paygate-Account"]}
    assert (await rest.get("/v1/invitations", headers=staff)).status_code == 403

    # Revoked: gone from the pending list, and its link is refused like an unknown one.
    third_email, third = user(gateway)
    second = await rest.post(
        "/v1/invitations", json={"email": third_email, "role": "DEVELOPER"}, headers=owner | once()
    )
    revoked = await rest.post(
        f"/v1/invitations/{second.json()['id']}/revoke", json={}, headers=owner | once()
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "REVOKED", revoked.text
    assert revoked.json()["token"] == ""
    assert await pending(rest, owner) == []
    assert (await accept(rest, third, second.json()["token"])).status_code == 404

    # Re-sent: a new link; the old one is refused, the new one joins.
    third_invite = await rest.post(
        "/v1/invitations", json={"email": third_email, "role": "DEVELOPER"}, headers=owner | once()
    )
    resent = await rest.post(
        f"/v1/invitations/{third_invite.json()['id']}/resend", json={}, headers=owner | once()
    )
    assert resent.status_code == 200, resent.text
    assert resent.json()["token"] not in ("", third_invite.json()["token"])
    assert (await accept(rest, third, third_invite.json()["token"])).status_code == 404
    assert (await accept(rest, third, resent.json()["token"])).status_code == 200
    assert owner_email not in (colleague_email, third_email)
