"""`python -m tests.bench.vault_cpu [--payments N] [--rounds R]`: this process's CPU for a
confirm's vault part, on an embedded PostgreSQL.

A confirm's vault part is the card's description (Vault.describe_for_payment, before
phase 1) and the card's use for the authorization (Vault.detokenize_for_payment, in the
zone), for a token tokenized beforehand (not measured). Two vaults over one database:
`kept` as served (the description's row kept for the use, core.vault.read_tokens), and
`read` with nothing kept (ReadTokens(max_entries=0): the use reads the token again, as
before). Also `tokenize` (a tokenization alone) and `zone` (ZoneCards.card over the
kept vault, with `--held` cards of earlier attempts held for failover). Each round is N
payments per kind, the kinds alternating by 50 so that they share the machine's load,
their order alternating by round; CPU is the main thread's (time.thread_time), in µs
per payment, the median of the rounds and the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.crypto.aes_gcm import AesGcmCipher
from adapters.crypto.fingerprint import HmacFingerprinter
from adapters.memory.cvc_store import MemoryCvcStore
from adapters.sql.engine import create_engine
from adapters.sql.vault.migrate import migrate_vault
from adapters.sql.vault.unit_of_work import SqlVaultUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from adapters.vault.in_process import InProcessCardVault
from core.payments.acquirer import AuthorizationRequest, CardReference
from core.payments.zone import ZoneCards
from core.shared.money import Money
from core.vault.read_tokens import ReadTokens
from core.vault.use_cases import Vault
from servers.runtime.embedded_postgres import EmbeddedPostgres
from tests.contract.vault.vault_helpers import card, local_kek, new_principal
from tests.databases import fresh_database
from tests.unit.vault.fakes import FINGERPRINT_KEY

BATCH = 50


def _vault(uow: SqlVaultUnitOfWorkFactory, clock: SystemClock, *, keep: bool) -> Vault:
    return Vault(
        uow,
        cipher=AesGcmCipher(),
        key_wrapper=local_kek(),
        fingerprinter=HmacFingerprinter(FINGERPRINT_KEY),
        cvc_store=MemoryCvcStore(clock),
        ids=RandomIds(),
        clock=clock,
        read_tokens=ReadTokens(clock, max_entries=10_000 if keep else 0),
    )


async def measure(url: str, count: int, rounds: int, held: int) -> None:
    engine = create_engine(url, pool_size=2)
    uow = SqlVaultUnitOfWorkFactory(engine)
    clock = SystemClock()
    caller = new_principal()
    vaults = {"kept": _vault(uow, clock, keep=True), "read": _vault(uow, clock, keep=False)}
    zone = ZoneCards(InProcessCardVault(vaults["kept"]), clock)
    attempt = 0

    async def tokenized(vault: Vault) -> str:
        return (await vault.tokenize_card(caller, card())).id

    def confirm(vault: Vault) -> Callable[[str], Awaitable[object]]:
        async def run(token_id: str) -> object:
            await vault.describe_for_payment(caller.merchant_id, token_id, livemode=False)
            return await vault.detokenize_for_payment(
                caller.merchant_id, token_id, purpose="bench", actor="bench", livemode=False
            )

        return run

    async def through_zone(token_id: str) -> object:
        nonlocal attempt
        attempt += 1
        await vaults["kept"].describe_for_payment(caller.merchant_id, token_id, livemode=False)
        source = CardReference(token_id, livemode=False, purpose="bench")
        request = AuthorizationRequest(
            f"pa_{attempt}", caller.merchant_id, Money(100, "USD"), source
        )
        return await zone.card(request, source)

    async def tokenize(token_id: str) -> object:
        return await tokenized(vaults["kept"])

    kinds: dict[str, Callable[[str], Awaitable[object]]] = {
        "kept": confirm(vaults["kept"]),
        "read": confirm(vaults["read"]),
        "zone": through_zone,
        "tokenize": tokenize,
    }
    for _ in range(held):  # cards of earlier attempts the zone holds for failover
        await through_zone(await tokenized(vaults["kept"]))
    for run in kinds.values():  # statements prepared, data key rows kept
        for _ in range(3):
            await run(await tokenized(vaults["kept"]))
    figures: dict[str, list[float]] = {kind: [] for kind in kinds}
    for round_ in range(rounds):
        spent = dict.fromkeys(kinds, 0.0)
        order = list(kinds) if round_ % 2 == 0 else list(reversed(kinds))
        for _ in range(0, count, BATCH):
            for kind in order:
                tokens = [await tokenized(vaults["kept"]) for _ in range(BATCH)]
                started = time.thread_time()
                for token_id in tokens:
                    await kinds[kind](token_id)
                spent[kind] += time.thread_time() - started
        for kind in kinds:
            figures[kind].append(spent[kind] / count * 1e6)
    await engine.dispose()
    for kind, values in figures.items():
        print(
            f"{kind:>9}: {statistics.median(values):8.1f} µs per payment "
            f"(rounds {min(values):.1f} .. {max(values):.1f})"
        )


async def _on_fresh_database(admin_url: str, count: int, rounds: int, held: int) -> None:
    async with fresh_database(admin_url, "vault_cpu", migrator=migrate_vault) as url:
        await measure(url, count, rounds, held)


def main(count: int, rounds: int, held: int) -> None:
    with tempfile.TemporaryDirectory(prefix="vault-cpu-") as folder:
        server = EmbeddedPostgres(Path(folder) / "data")
        admin_url = server.start()
        try:
            asyncio.run(_on_fresh_database(admin_url, count, rounds, held))
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--held", type=int, default=0)
    args = parser.parse_args()
    main(args.payments, args.rounds, args.held)
