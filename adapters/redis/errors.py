"""What a call to a Redis that went away raises.

redis-py's own errors and OSError; and, under uvloop, a RuntimeError ("the handler is
closed") when redis-py writes a command to a pooled connection whose peer reset it while
it sat idle: redis-py does not translate that one. Without it in the list a connection
reset answered INTERNAL instead of the adapter's documented policy (tests/faults/,
resets on the Redis connection).
"""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

CLOSED_TRANSPORT = RuntimeError
# Redis could not be reached or did not answer: the command may not have run.
REDIS_DOWN: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    CLOSED_TRANSPORT,
)
# Any failure of the call, the command's own errors included.
REDIS_FAILED: tuple[type[Exception], ...] = (RedisError, OSError, CLOSED_TRANSPORT)
