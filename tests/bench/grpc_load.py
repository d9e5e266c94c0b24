"""Native gRPC load from several processes (grpc.aio clients), for the harness.

    python -m tests.bench.grpc_load --target HOST:PORT --scenario payment|echo \
        --processes P --concurrency C --duration S [--rate R] [--max-ops N]

Each process runs C workers on one channel; an operation is a full card payment
(CreateToken, CreatePaymentIntent, ConfirmPaymentIntent with an idempotency key) or one
echo call. With --rate the workers start operations on a fixed schedule (open model),
else each starts its next one when the last ends (closed loop). Bounded by --duration and
--max-ops. Prints one JSON line: ops, duration, latencies, statuses by gRPC code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import time
import uuid
from collections import Counter
from typing import Any

import grpc


def _payment_steps(channel: grpc.aio.Channel, sk: str, pk: str) -> Any:
    from paygate.v1 import (
        payment_intents_pb2,
        payment_intents_pb2_grpc,
        tokens_pb2,
        tokens_pb2_grpc,
    )

    tokens = tokens_pb2_grpc.TokenServiceStub(channel)
    intents = payment_intents_pb2_grpc.PaymentIntentServiceStub(channel)
    secret = (("authorization", f"Bearer {sk}"),)
    public = (("authorization", f"Bearer {pk}"),)
    card = tokens_pb2.CardInput(number="4242424242424242", exp_month=12, exp_year=2040, cvc="123")

    async def payment() -> None:
        token = await tokens.CreateToken(tokens_pb2.CreateTokenRequest(card=card), metadata=public)
        intent = await intents.CreatePaymentIntent(
            payment_intents_pb2.CreatePaymentIntentRequest(amount=2500, currency="usd"),
            metadata=secret,
        )
        await intents.ConfirmPaymentIntent(
            payment_intents_pb2.ConfirmPaymentIntentRequest(id=intent.id, payment_method=token.id),
            metadata=(*secret, ("idempotency-key", uuid.uuid4().hex)),
        )

    return payment


def _echo_step(channel: grpc.aio.Channel) -> Any:
    from tests.bench import echo

    call = channel.unary_unary(echo.METHOD)
    payload = echo.PAYLOAD

    async def one() -> None:
        await call(payload)

    return one


async def _worker(
    op: Any, deadline: float, interval: float, offset: float, budget: list[int], out: dict
) -> None:
    next_at = time.monotonic() + offset
    while time.monotonic() < deadline and budget[0] > 0:
        if interval:
            wait = next_at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            next_at = max(next_at, time.monotonic()) + interval
            if time.monotonic() >= deadline:
                break
        budget[0] -= 1
        started = time.perf_counter()
        try:
            await op()
        except grpc.aio.AioRpcError as error:
            out["statuses"][error.code().name] += 1
            out["failures"] += 1
            continue
        out["statuses"]["OK"] += 1
        out["latencies_ms"].append((time.perf_counter() - started) * 1000)


async def _process_main(args: argparse.Namespace, index: int) -> dict[str, Any]:
    out: dict[str, Any] = {"statuses": Counter(), "failures": 0, "latencies_ms": []}
    async with grpc.aio.insecure_channel(args.target) as channel:
        if args.scenario == "payment":
            op = _payment_steps(channel, args.secret_key, args.publishable_key)
        else:
            op = _echo_step(channel)
        total_workers = args.processes * args.concurrency
        interval = total_workers / args.rate if args.rate else 0.0
        budget = [args.max_ops // args.processes if args.max_ops else 1 << 62]
        started = time.monotonic()
        deadline = started + args.duration
        await asyncio.gather(
            *(
                _worker(
                    op,
                    deadline,
                    interval,
                    interval * (index * args.concurrency + i) / total_workers,
                    budget,
                    out,
                )
                for i in range(args.concurrency)
            )
        )
        out["duration_s"] = time.monotonic() - started
    out["statuses"] = dict(out["statuses"])
    return out


def _child(args: argparse.Namespace, index: int, queue: Any) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(_process_main(args, index)))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--scenario", choices=["payment", "echo"], default="payment")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--max-ops", type=int, default=0)
    p.add_argument("--secret-key", default="")
    p.add_argument("--publishable-key", default="")
    args = p.parse_args()
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    queue = context.Queue()
    children = [
        context.Process(target=_child, args=(args, i, queue)) for i in range(args.processes)
    ]
    for c in children:
        c.start()
    parts = [queue.get(timeout=args.duration + 120) for _ in children]
    for c in children:
        c.join(30)
    statuses: Counter[str] = Counter()
    latencies: list[float] = []
    for part in parts:
        statuses.update(part["statuses"])
        latencies += part["latencies_ms"]
    print(
        json.dumps(
            {
                "ops": statuses.get("OK", 0),
                "failures": sum(part["failures"] for part in parts),
                "duration_s": max(part["duration_s"] for part in parts),
                "statuses": dict(statuses),
                "latencies_ms": [round(x, 3) for x in latencies],
            }
        )
    )


if __name__ == "__main__":
    main()
