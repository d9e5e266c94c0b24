"""`paygate vault rotate`: re-wrap every data key under the current KEK, give every merchant
a new data key version, and re-encrypt what the old versions sealed (docs/vault.md).

Runs next to a serving gateway (its own process, or a task in one): rows are claimed in
batches with FOR UPDATE SKIP LOCKED, and old KEKs and data key versions keep decrypting
until the job reports `remaining: 0`. Rows a payment held during a pass are picked up by
the next pass; the command makes passes until none remain or it gives up (exit code 1,
run it again).

    PAYGATE_VAULT_KEK=file:/new/kek PAYGATE_VAULT_PREVIOUS_KEKS=file:/old/kek \\
        paygate vault rotate              # KEK rotation + data key rotation
    paygate vault rotate --keep-data-keys  # re-wrap and finish re-encryption only

The CLI (servers/cli/main.py) calls `main(argv)` with the arguments after `vault rotate`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence

from core.vault.rotation import KeyRotation, RotationReport
from servers.bootstrap.vault import build_vault
from servers.cli.progress import Steps
from servers.runtime import logging_setup
from servers.runtime.settings import Settings

log = logging.getLogger("paygate.vault")


async def rotate(
    settings: Settings,
    *,
    retire_active_keys: bool = True,
    max_passes: int = 20,
    pause_seconds: float = 0.5,
) -> RotationReport:
    """Runs the rotation to the end (or `max_passes`); the report's `remaining` is what the
    last pass left under old data keys (0 when done)."""
    components = build_vault(settings)
    try:
        rotation = components.key_rotation()
        with Steps("vault rotate", ["pass 1"]) as steps:
            steps.step("pass 1")
            total = await rotation.run(retire_active_keys=retire_active_keys)
            log.info("vault rotation pass", extra={"fields": dataclasses.asdict(total)})
            for number in range(2, max_passes + 1):
                if not total.remaining:
                    break
                steps.grow()
                steps.step(f"pass {number}, {total.remaining} rows left")
                await asyncio.sleep(pause_seconds)
                total = await _another_pass(rotation, total)
        return total
    finally:
        await components.aclose()


async def _another_pass(rotation: KeyRotation, total: RotationReport) -> RotationReport:
    """Runs one more pass and folds it into `total` (remaining: what this pass left)."""
    again = await rotation.run(retire_active_keys=False)
    log.info("vault rotation pass", extra={"fields": dataclasses.asdict(again)})
    remaining = again.remaining
    again.remaining = 0
    again.merchants = 0
    total.add(again)
    total.remaining = remaining
    return total


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="paygate vault rotate", description=__doc__.split("\n")[0])
    root.add_argument(
        "--keep-data-keys",
        action="store_true",
        help="do not start new data key versions: re-wrap and finish re-encryption only",
    )
    root.add_argument("--batch-size", type=int, help="rows per transaction (default: settings)")
    return root


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings.from_env()
    if args.batch_size is not None:
        if args.batch_size < 1:
            print("--batch-size must be positive", file=sys.stderr)
            return 2
        settings = dataclasses.replace(settings, vault_batch_size=args.batch_size)
    logging_setup.configure(settings.log_level)
    report = asyncio.run(rotate(settings, retire_active_keys=not args.keep_data_keys))
    print(json.dumps({"vault_rotation": dataclasses.asdict(report)}), flush=True)
    return 0 if report.remaining == 0 else 1
