"""Runs one API server process: `python tests/e2e/api_process.py 127.0.0.1:PORT`.

Stands in for `paygate serve --role api --listen ...` until servers/cli.py exists; the
configuration comes from the environment (DATABASE_URL, REDIS_URL, ...), as there.
"""

from __future__ import annotations

import asyncio
import sys

from servers.grpc.server import run
from servers.settings import Settings

if __name__ == "__main__":
    asyncio.run(run(Settings.from_env(), sys.argv[1]))
