"""The channel paygate opens to another of its roles (the acquirer role, the vault role).

No automatic retries (each client decides what may be repeated), keepalive pings so that
a peer that vanished without a FIN or an RST is noticed, and a short reconnect back-off:
gRPC's default grows to two minutes, during which every call after a network blip or a
restart of the peer would answer UNAVAILABLE although the peer is back.
"""

from __future__ import annotations

import grpc

CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.enable_retries", 0),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
]


def open_channel(
    target: str, credentials: grpc.ChannelCredentials | None = None
) -> grpc.aio.Channel:
    """A channel to `target` (host:port); TLS with `credentials`. close() it on shutdown."""
    if credentials is not None:
        return grpc.aio.secure_channel(target, credentials, options=CHANNEL_OPTIONS)
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
