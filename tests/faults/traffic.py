"""Randomized merchant traffic over REST: every test card, captures (partial and full),
refunds, cancels, 3-D Secure, UPI collects and disputed cards.

A merchant's server retries a call that got no answer (a 5xx from Envoy when the process
that held it died, a reset connection) with the same Idempotency-Key, waits out a 409 of
a key still held and a 429, and gives up after a while: what the flows end with is not
asserted here. The harness checks the books afterwards (tests/faults/invariants.py).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.gateway import Gateway

APPROVED = ("4242424242424242", "5555555555554444", "378282246310005")
DECLINED = (
    "4000000000000002",
    "4000000000009995",
    "4000000000000069",
    "4000000000000127",
    "4000000000000119",  # processing_error
    "4100000000000019",  # risk engine
)
CHALLENGE = "4000002760003184"
ACQUIRER_TIMEOUT = "4000000000000408"
DISPUTED = "4000000000000259"
CURRENCIES = ("usd", "eur", "gbp", "jpy")
UNANSWERED = {502, 503, 504}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Tally:
    """What the traffic did, by flow and by the answers it got."""

    flows: Counter[str] = field(default_factory=Counter)
    answers: Counter[int] = field(default_factory=Counter)
    gave_up: int = 0


class Merchant:
    def __init__(
        self, rest_url: str, secret_key: str, publishable_key: str, rng: random.Random
    ) -> None:
        self.http = httpx.AsyncClient(base_url=rest_url, timeout=30)
        self.secret = {"Authorization": f"Bearer {secret_key}"}
        self.publishable = {"Authorization": f"Bearer {publishable_key}"}
        self.rng = rng
        self.tally = Tally()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def call(
        self, method: str, path: str, *, publishable: bool = False, **kwargs: Any
    ) -> httpx.Response | None:
        """One call as a careful client makes it; None when it never got an answer. A 409
        IDEMPOTENCY_KEY_IN_USE (the key is held by a call that died with its process, for
        the lock's minute) is an answer: the flow reads the intent instead."""
        headers = dict(self.publishable if publishable else self.secret)
        headers.update(kwargs.pop("headers", {}))
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(12):
            try:
                response = await self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError:
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
                continue
            self.tally.answers[response.status_code] += 1
            if response.status_code in UNANSWERED:
                await asyncio.sleep(min(0.2 * 2**attempt, 3.0))
            elif response.status_code == 429:
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            else:
                return response
        self.tally.gave_up += 1
        return None

    async def intent(self, currency: str, **fields: Any) -> dict[str, Any] | None:
        amount = self.rng.randrange(500, 50_000)
        if currency == "jpy":
            amount //= 10
        created = await self.call(
            "POST", "/v1/payment_intents", json={"amount": amount, "currency": currency, **fields}
        )
        return created.json() if created is not None and created.status_code == 200 else None

    async def token(self, card: str) -> str | None:
        made = await self.call(
            "POST",
            "/v1/tokens",
            publishable=True,
            json={"card": {"number": card, "exp_month": 12, "exp_year": 2040, "cvc": "123"}},
        )
        return str(made.json()["id"]) if made is not None and made.status_code == 200 else None

    async def confirm(self, intent: dict[str, Any], card: str) -> dict[str, Any] | None:
        token = await self.token(card)
        if token is None:
            return None
        done = await self.call(
            "POST", f"/v1/payment_intents/{intent['id']}/confirm", json={"payment_method": token}
        )
        if done is None:
            return None
        if done.status_code == 200:
            return dict(done.json())
        return await self.get(intent["id"])

    async def get(self, intent_id: str) -> dict[str, Any] | None:
        got = await self.call("GET", f"/v1/payment_intents/{intent_id}")
        return got.json() if got is not None and got.status_code == 200 else None

    async def refund_some(self, intent: dict[str, Any]) -> None:
        received = int(intent.get("amount_received") or 0)
        if received <= 0:
            return
        for _ in range(self.rng.randrange(1, 3)):
            part = self.rng.choice([received, max(1, received // 3)])
            await self.call(
                "POST", "/v1/refunds", json={"payment_intent": intent["id"], "amount": part}
            )

    # --- the flows -----------------------------------------------------------------------

    async def automatic(self) -> None:
        intent = await self.intent(self.rng.choice(CURRENCIES))
        if intent is None:
            return
        paid = await self.confirm(intent, self.rng.choice(APPROVED))
        if paid is not None and self.rng.random() < 0.6:
            await self.refund_some(paid)

    async def manual(self) -> None:
        intent = await self.intent(self.rng.choice(CURRENCIES), capture_method="MANUAL")
        if intent is None:
            return
        held = await self.confirm(intent, self.rng.choice(APPROVED))
        if held is None or held.get("status") != "REQUIRES_CAPTURE":
            return
        path = f"/v1/payment_intents/{intent['id']}"
        if self.rng.random() < 0.3:
            await self.call("POST", f"{path}/cancel", json={})
            return
        capturable = int(held["amount_capturable"])
        amount = self.rng.choice([capturable, max(1, capturable // 2)])
        captured = await self.call("POST", f"{path}/capture", json={"amount_to_capture": amount})
        if captured is not None and captured.status_code == 200 and self.rng.random() < 0.5:
            await self.refund_some(captured.json())

    async def declined(self) -> None:
        intent = await self.intent(self.rng.choice(CURRENCIES))
        if intent is None:
            return
        await self.confirm(intent, self.rng.choice(DECLINED))
        if self.rng.random() < 0.5:  # the shopper tries another card
            await self.confirm(intent, self.rng.choice(APPROVED))

    async def challenged(self) -> None:
        intent = await self.intent("usd", capture_method="MANUAL")
        if intent is None:
            return
        waiting = await self.confirm(intent, CHALLENGE)
        if waiting is None or waiting.get("status") != "REQUIRES_ACTION":
            return
        outcome = self.rng.choice(["complete", "complete", "fail"])
        await self.call(
            "POST",
            f"/3ds/{waiting['latest_attempt']}",
            content=f"outcome={outcome}",
            headers=FORM,
        )
        done = await self.get(intent["id"])
        if done is not None and done.get("status") == "REQUIRES_CAPTURE":
            await self.call("POST", f"/v1/payment_intents/{intent['id']}/capture", json={})

    async def timed_out(self) -> None:
        intent = await self.intent("usd")
        if intent is not None:
            await self.confirm(intent, ACQUIRER_TIMEOUT)  # PROCESSING until recovery asks

    async def upi(self) -> None:
        intent = await self.intent("inr", payment_method_types=["upi"])
        if intent is None:
            return
        vpa = self.rng.choice(["success@upi", "success@upi", "failure@upi"])
        await self.call(
            "POST", f"/v1/payment_intents/{intent['id']}/confirm", json={"upi": {"vpa": vpa}}
        )

    async def disputed(self) -> None:
        intent = await self.intent(self.rng.choice(CURRENCIES))
        if intent is not None:
            await self.confirm(intent, DISPUTED)

    async def abandoned(self) -> None:
        intent = await self.intent(self.rng.choice(CURRENCIES))
        if intent is not None:
            await self.call("POST", f"/v1/payment_intents/{intent['id']}/cancel", json={})

    def flows(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            "automatic": self.automatic,
            "manual": self.manual,
            "declined": self.declined,
            "challenged": self.challenged,
            "timed_out": self.timed_out,
            "upi": self.upi,
            "disputed": self.disputed,
            "abandoned": self.abandoned,
        }


WEIGHTS = {
    "automatic": 5,
    "manual": 5,
    "declined": 2,
    "challenged": 2,
    "timed_out": 1,
    "upi": 2,
    "disputed": 1,
    "abandoned": 1,
}


async def shop(merchant: Merchant, until: Callable[[], bool]) -> None:
    """One merchant server's loop: a random flow after another until `until()`."""
    flows = merchant.flows()
    names = list(WEIGHTS)
    weights = [WEIGHTS[name] for name in names]
    while not until():
        name = merchant.rng.choices(names, weights)[0]
        merchant.tally.flows[name] += 1
        await flows[name]()


async def shops(gateway: Gateway, rng: random.Random, *, servers: int, seconds: float) -> Tally:
    """`servers` of the seed merchant's servers shopping at once for `seconds`; what they
    did, summed (also when cut short)."""
    keys = (gateway.rest_url, gateway.secret_key, gateway.publishable_key)
    merchants = [Merchant(*keys, rng) for _ in range(servers)]
    end = time.monotonic() + seconds
    tally = Tally()
    try:
        await asyncio.gather(*(shop(m, lambda: time.monotonic() > end) for m in merchants))
    finally:
        for merchant in merchants:
            tally.flows.update(merchant.tally.flows)
            tally.answers.update(merchant.tally.answers)
            tally.gave_up += merchant.tally.gave_up
            await merchant.aclose()
    return tally
