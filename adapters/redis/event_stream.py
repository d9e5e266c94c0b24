"""Events for internal consumers: appended to a Redis Stream (docs/events.md).

XADD with an approximate MAXLEN bounds the stream; consumers read it with consumer groups
(XREADGROUP, XACK), so each group sees every event at least once. Only what may be lost or
rebuilt lives in Redis: PostgreSQL's events table stays the record.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from redis.asyncio import Redis

from adapters.failpoints import fail_point
from core.events.model import Event

STREAM = "paygate:events"
MAX_LENGTH = 100_000
# A Redis that stops answering holds the relay's batch for at most this long (then the
# batch is tried again); without it, forever.
TIMEOUT_SECONDS = 2.0


class RedisEventStream:
    def __init__(self, url: str, *, stream: str = STREAM, max_length: int = MAX_LENGTH) -> None:
        self._redis = Redis.from_url(
            url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
        )
        self.stream = stream
        self.max_length = max_length

    async def append(self, events: Sequence[Event]) -> None:
        if not events:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(
                    self.stream,
                    {
                        "id": event.id,
                        "type": event.type,
                        "merchant_id": event.merchant_id,
                        "livemode": "1" if event.livemode else "0",
                        "event": json.dumps(event.envelope(), separators=(",", ":")),
                    },
                    maxlen=self.max_length,
                    approximate=True,
                )
            fail_point("relay.stream.before")
            await pipe.execute()
            fail_point("relay.stream.after")  # on the stream, not yet marked relayed

    async def aclose(self) -> None:
        await self._redis.aclose()
