"""The cardholder-data zone as real processes (split mode): Envoy, an API process, the
vault role (which hosts the zone: detokenization and the connectors, and serves POST
/v1/tokens) and the acquirer role. Cards are tokenized through Envoy's REST listener with
the merchant's publishable key (Envoy routes paygate.v1.TokenService to the vault role),
then paid, captured and declined through the API process's gRPC port, and then its memory
is read (/proc/PID/mem) for the sentinel card numbers: none is there, in full or in
part, while the token ids it handled are (the scan sees what the process holds). The
API process's log has none either, and Envoy's statistics show that no token request
went to the API processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from paygate.v1 import payment_intents_pb2 as intents_pb
from paygate.v1 import payment_intents_pb2_grpc

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from adapters.system import RandomIds, SystemClock
from core.access.use_cases import ApiKeys
from servers.runtime import envoy_config
from servers.runtime.probes import envoy_ready
from servers.runtime.settings import Settings
from tests.e2e.conftest import free_port, free_ports
from tests.e2e.split_roles import RoleProcess, role_processes, serve_role, spawn, wait_serving
from tests.faults.waiting import eventually
from tests.sentinel import Sentinels

pytestmark = pytest.mark.e2e

VAULT_TOKEN = secrets.token_urlsafe(32)
ACQUIRER_TOKEN = secrets.token_urlsafe(32)
DECLINED = "4000000000000002"
STARTUP_POLLS = 3000  # health checks, 50 ms apart, before a role counts as not starting
STARTUP_SECONDS = 300.0  # a bound on start-up, generous for a loaded machine


@dataclass
class EnvoyRole(RoleProcess):
    admin_url: str = ""
    grpc_target: str = ""  # Envoy's gRPC listener


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
        tokens_listen = f"127.0.0.1:{free_port()}"
        vault = serve_role(
            "vault",
            {
                **reach_acquirer,
                "VAULT_DATABASE_URL": vault_database,
                # The access tables (keys), the idempotency keys: POST /v1/tokens is here.
                "DATABASE_URL": database_url,
                "PAYGATE_VAULT_PUBLIC_LISTEN": tokens_listen,
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
        started.append(envoy(api, tokens_listen, tmp_path))
        yield {role.name: role for role in started}


def envoy(api: RoleProcess, tokens: str, tmp_path: Path) -> EnvoyRole:
    """Envoy before the API process, with the token service routed to the vault role."""
    http_port, grpc_port, admin_port = free_ports(3)
    settings = Settings(
        data_dir=tmp_path,
        http_port=http_port,
        grpc_port=grpc_port,
        envoy_admin_port=admin_port,
        api_processes=1,
        api_base_port=int(api.target.rpartition(":")[2]),
        web_port=0,
        stripe_port=0,
        envoy_vault_upstream=tokens,
    )
    config = envoy_config.write(settings, envoy_config.descriptor_path(), tmp_path / "envoy.yaml")
    argv = envoy_config.envoy_command(config)
    started = spawn("envoy", argv, f"127.0.0.1:{http_port}", {}, tmp_path / "envoy.log")
    return EnvoyRole(
        **vars(started),
        admin_url=f"http://127.0.0.1:{admin_port}",
        grpc_target=f"127.0.0.1:{grpc_port}",
    )


async def wait_envoy(role: EnvoyRole) -> None:
    rest = ("127.0.0.1", int(role.target.rpartition(":")[2]))
    for _ in range(STARTUP_POLLS):
        if role.process.poll() is not None:
            raise AssertionError(role.log.read_text()[-3000:])
        if await envoy_ready(role.admin_url, role.grpc_target, rest):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("envoy never became ready")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rpc_calls(log: Path) -> Counter[str]:
    """The gRPC methods a role served, by its access log (one `rpc` line per call)."""
    calls: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and "rpc" in line:
            entry = json.loads(line)
            if entry.get("msg") == "rpc":
                calls[entry.get("method", "")] += 1
    return calls


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
    servers = [r for n, r in roles.items() if n != "envoy"]
    await asyncio.gather(*(wait_serving(r, within=STARTUP_SECONDS) for r in servers))
    envoy_role = roles["envoy"]
    assert isinstance(envoy_role, EnvoyRole)
    await wait_envoy(envoy_role)
    engine = create_engine(database_url, pool_size=1)
    try:
        seeded = await ApiKeys(
            SqlUnitOfWorkFactory(engine), RandomIds(), SystemClock()
        ).seed_merchant("Zone e2e")
    finally:
        await engine.dispose()
    secret_key = (("authorization", f"Bearer {seeded.secret_key.plaintext}"),)
    sentinels = Sentinels()
    rest = httpx.AsyncClient(
        base_url=f"http://{roles['envoy'].target}",
        headers={"Authorization": f"Bearer {seeded.publishable_key.plaintext}"},
        timeout=30,
    )
    tokens: list[str] = []

    async def tokenize(number: str) -> str:
        card = {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": sentinels.cvc()}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        created = await rest.post("/v1/tokens", json={"card": card}, headers=key)
        assert created.status_code == 200, created.text
        # The vault role keeps the API's idempotency: the same key answers the same token.
        again = await rest.post("/v1/tokens", json={"card": card}, headers=key)
        assert again.json()["id"] == created.json()["id"]
        token: str = created.json()["id"]
        tokens.append(token)
        return token

    # The vault role authenticates keys as the API does: a key that does not exist is
    # refused there (Envoy only checks that there is a credential).
    unknown = {"Authorization": "Bearer pk_test_" + "x" * 32, "Idempotency-Key": "k1"}
    refused = await rest.post(
        "/v1/tokens", json={"card": {"number": "4242424242424242"}}, headers=unknown
    )
    assert refused.status_code == 401, refused.text

    cpu_before = {name: cpu_seconds(role.process.pid) for name, role in roles.items()}
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
    stats = await rest.get(f"{envoy_role.admin_url}/stats?filter=upstream_rq_total$")
    await rest.aclose()
    # Every token request went to the vault role (the refused one too: gRPC answers 200).
    counted = dict(line.split(": ") for line in stats.text.splitlines())
    sent = int(counted[f"cluster.{envoy_config.TOKENS_CLUSTER}.upstream_rq_total"])
    assert sent == 2 * len(tokens) + 1

    cpu = {name: cpu_seconds(r.process.pid) - cpu_before[name] for name, r in roles.items()}
    # What each payment costs in calls across the zone's boundary (docs/connectors.md, "What
    # the extra hop costs"): 5 confirms (3 automatic captures, 1 manual, 1 decline) and 1
    # capture: the automatic captures are sales, captured in the authorization's own call
    # ("a sale"). The API process sends each authorization and capture through the zone;
    # it serves no token request.
    zone = "/paygate.internal.v1.AcquirerSimulatorService/"

    # The vault role writes its log lines from a thread: the last ones come a moment later.
    def all_logged() -> bool:
        calls = rpc_calls(roles["vault"].log)
        return calls[zone + "Authorize"] >= 5 and calls[zone + "Capture"] >= 1

    await eventually(all_logged, within=30)
    vault_calls, api_calls = rpc_calls(roles["vault"].log), rpc_calls(roles["api"].log)
    # The card profiles came with the tokens (adapters/vault/profile_handoff.py), so a
    # payment is one call into the zone (a sale, or an authorization held for a manual
    # capture), and a manual capture one more.
    assert vault_calls["/paygate.internal.v1.VaultInternalService/DescribeForPayment"] == 0
    assert (vault_calls[zone + "Authorize"], vault_calls[zone + "Capture"]) == (5, 1)
    assert vault_calls["/paygate.v1.TokenService/CreateToken"] == 2 * len(tokens) + 1
    assert not [m for m in api_calls if "TokenService" in m]
    print(f"\nsplit: calls at the vault role {dict(vault_calls)}; CPU seconds of the "
          f"{len(tokens)} payments by process {cpu}")  # fmt: skip

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
