"""The test merchant of `paygate up`: seeded once, its keys kept in <data_dir>/seed.json
(mode 0600) and reused while that merchant and its secret key still exist.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

MERCHANT_NAME = "Test merchant"


@dataclass(frozen=True)
class Seed:
    merchant_id: str
    secret_key: str
    publishable_key: str
    merchant_name: str = MERCHANT_NAME


def read_seed(path: Path) -> Seed | None:
    try:
        data = json.loads(path.read_text())
        return Seed(
            merchant_id=data["merchant_id"],
            secret_key=data["secret_key"],
            publishable_key=data["publishable_key"],
            merchant_name=data.get("merchant_name", MERCHANT_NAME),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_seed(path: Path, seed: Seed) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dataclasses.asdict(seed), handle, indent=2)
        handle.write("\n")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


async def ensure_seed(database_url: str, seed_file: Path) -> tuple[Seed, bool]:
    """The test merchant's keys, seeding it when seed_file is missing or stale.

    Returns (seed, created). A seed is stale when its merchant or its secret key is not in
    this database (another DATABASE_URL, a wiped data dir, a revoked key).
    """
    from adapters.system import RandomIds, SystemClock
    from core.access.use_cases import ApiKeys
    from core.shared.errors import Unauthenticated
    from servers.bootstrap.database import database

    async with database(database_url, pool_size=1) as db:
        uow = db.uow
        keys = ApiKeys(uow, RandomIds(), SystemClock())
        saved = read_seed(seed_file)
        if saved is not None:
            async with uow() as unit:
                merchant = await unit.merchants.get(saved.merchant_id)
            if merchant is not None:
                try:
                    principal = await keys.authenticate(saved.secret_key)
                except Unauthenticated:
                    principal = None
                if principal is not None and principal.merchant_id == saved.merchant_id:
                    return saved, False
        seeded = await keys.seed_merchant(MERCHANT_NAME)
        seed = Seed(
            merchant_id=seeded.merchant.id,
            secret_key=seeded.secret_key.plaintext,
            publishable_key=seeded.publishable_key.plaintext,
        )
        write_seed(seed_file, seed)
        return seed, True
