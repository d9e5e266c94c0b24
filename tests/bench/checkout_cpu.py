"""`python -m tests.bench.checkout_cpu [--units N] [--tasks T]`: CPU per unit of work that
only checks out its connection and returns it (`async with uow: pass`), on an embedded
PostgreSQL of its own: the part of every request that is the pool's (docs/performance.md,
"A unit of work's checkout and return on reused greenlets"). Prints this process's CPU
(user + system) per unit of work, in microseconds, and the load average."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWorkFactory
from servers.runtime.embedded_postgres import EmbeddedPostgres


async def measure(url: str, units: int, tasks: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=tasks)
    factory = SqlUnitOfWorkFactory(engine)

    async def worker(count: int) -> None:
        for _ in range(count):
            async with factory():
                pass

    try:
        await asyncio.gather(*(worker(50) for _ in range(tasks)))  # warm: the pool full
        load = os.getloadavg()[0]
        started = time.process_time()
        await asyncio.gather(*(worker(units // tasks) for _ in range(tasks)))
        used = time.process_time() - started
    finally:
        await engine.dispose()
    return {
        "us/unit": round(used * 1e6 / (units // tasks * tasks), 1),
        "load": round((load + os.getloadavg()[0]) / 2, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.checkout_cpu")
    parser.add_argument("--units", type=int, default=20000)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="paygate-checkout-"))
    server = EmbeddedPostgres(root / "data")
    try:
        url = server.start()
        for _ in range(args.rounds):
            print(json.dumps(asyncio.run(measure(url, args.units, args.tasks))), flush=True)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
