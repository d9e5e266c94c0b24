"""The vault role behind the fault proxy in a whole split gateway (tests/faults/split_vault.py:
Envoy, two API processes, the worker, the vault role hosting the cardholder-data zone, the
acquirer role), under load; docs/reliability.md, "The vault role on the wire".

- latency: payments succeed;
- resets and a black hole: tokenization and confirms answer 503 UNAVAILABLE within the
  vault client's deadline (PAYGATE_VAULT_TIMEOUT) or the zone call's
  (PAYGATE_ACQUIRER_TIMEOUT), never 500, never without an answer; a confirm whose zone call
  may have left answers 200 PROCESSING and recovery settles it to what the acquirer says;
- healed: the same processes serve again, and the invariants hold (nothing stuck, at most
  one approval per intent at the acquirer, captured <= authorized, postings balanced,
  every event once).

`make test` runs the black hole; `make test-faults` (PAYGATE_PROXY_FAULTS=all) each mode.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text

from adapters.sql.engine import create_engine
from adapters.sql.vault.migrate import migrate_vault
from tests.databases import fresh_database
from tests.faults import invariants
from tests.faults.proxied import LONG_PROFILE, payments_of
from tests.faults.proxy import FaultProxy
from tests.faults.split_vault import SplitVault, split_vault_gateway
from tests.faults.test_outages import CARD, LOAD_CLIENTS, Load, books_hold, loaded
from tests.faults.waiting import eventually

FAULTS: dict[str, Callable[[FaultProxy], None]] = {
    "latency": lambda proxy: proxy.latency(0.03, jitter=0.03),
    "reset": lambda proxy: proxy.reset(),
    "black_hole": lambda proxy: proxy.black_hole(),
}
CASES = list(FAULTS) if LONG_PROFILE else ["black_hole"]
# Answers to wait for before, during and after the fault. During it, creates (which do not
# touch the vault role) keep answering 200 at once, so the count alone can be reached before
# any call through the vault role has come back: the wait also needs every client of each
# load to have had a call refused (REFUSED_PER_CLIENT), unless the fault is only latency.
ENOUGH = (4, 8, 4)
REFUSED_PER_CLIENT = 1
SAVED_CARD_CLIENTS = 2


@pytest.fixture(scope="module")
async def split_databases(postgres_admin_url: str) -> AsyncIterator[tuple[str, str]]:
    async with (
        fresh_database(postgres_admin_url, "paygate_split_faults") as payments,
        fresh_database(postgres_admin_url, "paygate_split_vault", migrator=migrate_vault) as vault,
    ):
        yield payments, vault


@pytest.fixture(scope="module")
def split(split_databases: tuple[str, str], redis_url: str) -> Iterator[SplitVault]:
    payments, vault = split_databases
    with split_vault_gateway(payments, vault, redis_url) as running:
        yield running


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


@dataclass
class SavedCardLoad(Load):
    """Clients paying with a card saved before the fault (pm_...): every confirm asks the
    vault for the card's profile and goes through the zone, with no tokenization before."""

    payment_method: str = ""

    async def pay(self, http: httpx.AsyncClient, sk: dict[str, str], pk: dict[str, str]) -> None:
        created = await http.post(
            "/v1/payment_intents", json={"amount": 2300, "currency": "usd"}, headers=sk | key()
        )
        self.count(created)
        if created.status_code != 200:
            return
        self.created.add(created.json()["id"])
        confirmed = await http.post(
            f"/v1/payment_intents/{created.json()['id']}/confirm",
            json={"payment_method": self.payment_method},
            headers=sk | key(),
        )
        self.count(confirmed)
        if confirmed.status_code == 200:
            self.outcomes.setdefault(self.phase, Counter())[confirmed.json()["status"]] += 1


async def saved_card(split: SplitVault) -> str:
    gateway = split.gateway
    pk = {"Authorization": f"Bearer {gateway.publishable_key}"}
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=60) as http:
        token = await http.post("/v1/tokens", json={"card": CARD}, headers=pk | key())
        assert token.status_code == 200, token.text
        method = await http.post(
            "/v1/payment_methods", json={"token": token.json()["id"]}, headers=sk | key()
        )
        assert method.status_code == 200, method.text
        return str(method.json()["id"])


def allowed(fault: str) -> set[str]:
    """429: clients failing fast outrun their rate limit."""
    return {"200"} if fault == "latency" else {"200", "429", "503 UNAVAILABLE"}


@pytest.mark.parametrize("fault", CASES)
async def test_the_vault_role_faulted_under_load(split: SplitVault, fault: str) -> None:
    gateway, proxy = split.gateway, split.proxy
    pids = dict(gateway.pids)
    through = proxy.stats["accepted"] + proxy.stats["to_upstream"]
    saved = SavedCardLoad(gateway, payment_method=await saved_card(split))
    savers = [asyncio.ensure_future(saved.client()) for _ in range(SAVED_CARD_CLIENTS)]
    before, during, after = ENOUGH
    with loaded(gateway) as (load, tasks):
        try:
            assert await eventually(lambda: load.served("before") >= before), load.answers
            load.phase = saved.phase = "fault"
            FAULTS[fault](proxy)

            def answered_in_fault() -> bool:
                def felt(each: Load, clients: int) -> bool:
                    answers = each.answers.get("fault", Counter())
                    refused = sum(n for kind, n in answers.items() if kind != "200")
                    enough = sum(answers.values()) >= during
                    needed = 0 if fault == "latency" else clients * REFUSED_PER_CLIENT
                    return enough and refused >= needed

                return felt(load, LOAD_CLIENTS) and felt(saved, SAVED_CARD_CLIENTS)

            assert await eventually(answered_in_fault), (load.answers, saved.answers)
        finally:
            proxy.healthy()
        load.phase = saved.phase = "back"
        assert await eventually(
            lambda: load.served("back") >= after and saved.served("back") >= after
        ), (load.answers, saved.answers)
        load.stop = saved.stop = True
        await asyncio.gather(*tasks, *savers)
    print(
        f"\nvault role {fault}: answers {load.answers}, saved card {saved.answers}; confirmed "
        f"{load.outcomes}, saved card {saved.outcomes}; proxy {dict(proxy.stats)}"
    )
    assert proxy.stats["accepted"] + proxy.stats["to_upstream"] > through  # on the path
    for each in (load, saved):
        assert set(each.answers["fault"]) <= allowed(fault), each.answers
        assert not any(kind.startswith("500") for kinds in each.answers.values() for kind in kinds)
    if fault != "latency":  # the fault was felt: calls were refused, not held
        assert load.answers["fault"]["503 UNAVAILABLE"] > 0, load.answers
        assert saved.answers["fault"]["503 UNAVAILABLE"] > 0, saved.answers
    assert gateway.pids == pids and split.roles_running()  # served again without a restart
    load.created |= saved.created
    assert await books_hold(gateway, load) == []
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            _, problems = await invariants.acquirer_books(gateway, connection)
    finally:
        await engine.dispose()
    assert problems == []


async def attempt_sent(gateway_database: str, intent_id: str) -> bool:
    """The confirm's first phase committed: the attempt is about to be sent to the zone."""
    engine = create_engine(gateway_database, pool_size=1)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT count(*) FROM payment_attempts WHERE payment_intent_id = :intent"),
                {"intent": intent_id},
            )
            return bool(found.scalar_one())
    finally:
        await engine.dispose()


async def test_a_zone_call_whose_answer_was_lost_is_settled_by_recovery(
    split: SplitVault,
) -> None:
    """The authorization reached the zone (and the card network approved it), the answer
    never came back: 200 PROCESSING, never a decline; once healed, recovery asks the
    acquirer through the zone and the intent is REQUIRES_CAPTURE, one approval, captured
    once for no more than was authorized.

    The confirm asks the vault for the card's profile first, so the replies are dropped
    only once the attempt is committed: the proxy holds every chunk for a second, which
    leaves a second between that commit and the zone's answer to switch."""
    gateway, proxy = split.gateway, split.proxy
    sk = {"Authorization": f"Bearer {gateway.secret_key}"}
    payment_method = await saved_card(split)
    async with httpx.AsyncClient(base_url=gateway.rest_url, timeout=60) as http:
        intent = await http.post(
            "/v1/payment_intents",
            json={"amount": 4100, "currency": "usd", "capture_method": "MANUAL"},
            headers=sk | key(),
        )
        intent_id = intent.json()["id"]
        proxy.latency(1.0)
        try:
            confirm = asyncio.ensure_future(
                http.post(
                    f"/v1/payment_intents/{intent_id}/confirm",
                    json={"payment_method": payment_method},
                    headers=sk | key(),
                )
            )
            assert await eventually(lambda: attempt_sent(gateway.database_url, intent_id), 30)
            proxy.black_hole(replies_only=True)
            paid = await confirm
        finally:
            proxy.healthy()
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "PROCESSING"  # outcome unknown, not declined

        async def settled() -> str:
            got = await http.get(f"/v1/payment_intents/{intent_id}", headers=sk)
            return "" if got.json()["status"] == "PROCESSING" else str(got.json()["status"])

        assert await eventually(settled) == "REQUIRES_CAPTURE"
        captured = await http.post(
            f"/v1/payment_intents/{intent_id}/capture", json={}, headers=sk | key()
        )
        assert captured.json()["status"] == "SUCCEEDED", captured.text
    outcomes, entries = await payments_of(gateway, intent_id)
    assert outcomes == ["APPROVED"]
    print(f"\nanswer lost in the zone: attempts at the acquirer {outcomes}, ledger {entries}")
    assert entries and all(count == 1 for count in entries.values()), entries
    engine = create_engine(gateway.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            assert await invariants.money_and_ledger(connection) == []
    finally:
        await engine.dispose()
