"""The cardholder-data zone as real processes (split mode): an API process, the vault role
(which hosts the zone: detokenization and the connectors) and the acquirer role. Cards
are paid, captured and declined through the API process's gRPC port, and then its memory
is read (/proc/PID/mem) for the sentinel card numbers: none is there, in full or in
part, while the token ids it handled are (the scan sees what the process holds). The
API process's log has none either.

The cards are tokenized at the vault role directly, as a browser does when its token
route leads to the zone (docs/connectors.md).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from paygate.v1 import payment_intents_pb2 as intents_pb
from paygate.v1 import payment_intents_pb2_grpc

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from adapters.vault.grpc_client import GrpcVault
from core.access.model import Principal
from core.access.use_cases import ApiKeys
from core.shared.secret import Secret
from core.vault.cards import CardInput
from tests.e2e.split_roles import RoleProcess, role_processes, serve_role, wait_serving
from tests.sentinel import Sentinels

pytestmark = pytest.mark.e2e

VAULT_TOKEN = secrets.token_urlsafe(32)
ACQUIRER_TOKEN = secrets.token_urlsafe(32)
DECLINED = "4000000000000002"


@pytest.fixture
def roles(
    database_url: str, vault_database: str, redis_url: str, tmp_path: Path
) -> Iterator[dict[str, RoleProcess]]:
    with role_processes() as started:
        acquirer = serve_role(
            "acquirer", {"PAYGATE_ACQUIRER_SERVICE_TOKEN": ACQUIRER_TOKEN}, tmp_path
        )
        started.append(acquirer)
        reach_acquirer = {
            "PAYGATE_ACQUIRER_TARGET": acquirer.target,
            "PAYGATE_ACQUIRER_SERVICE_TOKEN": ACQUIRER_TOKEN,
            "PAYGATE_VAULT_SERVICE_TOKEN": VAULT_TOKEN,
            "REDIS_URL": redis_url,
        }
        vault = serve_role(
            "vault",
            {
                **reach_acquirer,
                "VAULT_DATABASE_URL": vault_database,
                "DATABASE_URL": "",
                "PAYGATE_VAULT_CVC_STORE": "redis",
            },
            tmp_path,
        )
        started.append(vault)
        api = serve_role(
            "api",
            {
                **reach_acquirer,
                "DATABASE_URL": database_url,
                "PAYGATE_VAULT_TARGET": vault.target,
                "PAYGATE_LOG_LEVEL": "DEBUG",
            },
            tmp_path,
        )
        started.append(api)
        yield {role.name: role for role in started}


def process_memory(pid: int) -> bytes:
    """Every readable private or anonymous mapping of a process (its heaps, stacks and
    arenas, where Python keeps its objects)."""
    chunks = []
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    with open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            span, perms = fields[0], fields[1]
            path = fields[5] if len(fields) > 5 else ""
            if not perms.startswith("r") or path.startswith(("/", "[vvar", "[vsyscall")):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                memory.seek(start)
                chunks.append(memory.read(end - start))
            except (OSError, ValueError, OverflowError):
                continue
    return b"\0".join(chunks)


async def test_the_api_process_never_holds_a_card_number(
    roles: dict[str, RoleProcess], database_url: str
) -> None:
    await asyncio.gather(*(wait_serving(r) for r in roles.values()))
    engine = create_engine(database_url, pool_size=1)
    try:
        seeded = await ApiKeys(
            SqlUnitOfWorkFactory(engine), RandomIds(), SystemClock()
        ).seed_merchant("Zone e2e")
    finally:
        await engine.dispose()
    merchant = seeded.merchant.id
    secret_key = (("authorization", f"Bearer {seeded.secret_key.plaintext}"),)
    sentinels = Sentinels()
    vault = GrpcVault.connect(roles["vault"].target, service_token=VAULT_TOKEN)
    tokens: list[str] = []

    async def tokenize(number: str) -> str:
        card = CardInput(Secret(number), exp_month=12, exp_year=2031, cvc=Secret(sentinels.cvc()))
        owner = Principal(merchant, False, "key_zone", None)
        token = (await vault.tokenize_card(owner, card)).id
        tokens.append(token)
        return token

    async with grpc.aio.insecure_channel(roles["api"].target) as channel:
        intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)

        async def pay(number: str, manual: bool) -> intents_pb.PaymentIntent:
            intent = await intents.CreatePaymentIntent(
                intents_pb.CreatePaymentIntentRequest(
                    amount=2100,
                    currency="eur",
                    capture_method=(
                        intents_pb.PaymentIntent.MANUAL
                        if manual
                        else intents_pb.PaymentIntent.AUTOMATIC
                    ),
                ),
                metadata=(*secret_key, ("idempotency-key", str(uuid.uuid4()))),
            )
            confirmed: intents_pb.PaymentIntent = await intents.ConfirmPaymentIntent(
                intents_pb.ConfirmPaymentIntentRequest(
                    id=intent.id, payment_method=await tokenize(number)
                ),
                metadata=(*secret_key, ("idempotency-key", str(uuid.uuid4()))),
            )
            return confirmed

        for _ in range(3):
            paid = await pay(sentinels.pan("4"), manual=False)
            assert paid.status == intents_pb.PaymentIntent.SUCCEEDED, paid
        held = await pay(sentinels.pan("5"), manual=True)
        assert held.status == intents_pb.PaymentIntent.REQUIRES_CAPTURE
        captured = await intents.CapturePaymentIntent(
            intents_pb.CapturePaymentIntentRequest(id=held.id),
            metadata=(*secret_key, ("idempotency-key", str(uuid.uuid4()))),
        )
        assert captured.status == intents_pb.PaymentIntent.SUCCEEDED
        with pytest.raises(grpc.aio.AioRpcError) as declined:
            await pay(DECLINED, manual=False)
        assert declined.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    await vault.aclose()

    memory = process_memory(roles["api"].process.pid)
    # The scan sees what the process holds: the tokens it was given are there.
    assert all(token.encode() in memory for token in tokens)
    # (The public test cards are in the code every process loads; the sentinels are not.)
    for pan in sentinels.pans:
        assert pan.encode() not in memory, "a card number is in the API process's memory"
        assert pan[:12].encode() not in memory
    # And so are the card references it sent to the zone (their purpose text).
    assert re.search(rb"payment_intent pi_\w+ attempt pa_\w+", memory)
    api_log = roles["api"].log.read_text()
    assert sentinels.hits_in_text(api_log, "api.log") == []
