"""The Stripe-compatible surface (`paygate serve --role stripe`): servers/stripe's ASGI
app under uvicorn, on loopback behind Envoy's /stripe/ route. It holds no state and no
database connection: every call goes to the API processes over gRPC."""

from __future__ import annotations

import uvicorn

from servers.runtime import envoy_config, logging_setup
from servers.runtime.settings import Settings
from servers.stripe.app import create_app
from servers.stripe.backend import Backend, api_target

GRACE_SECONDS = 10


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    host, _, port = listen.rpartition(":")
    backend = Backend(api_target(envoy_config.api_endpoints(settings), settings.envoy_api_upstream))
    config = uvicorn.Config(
        create_app(backend),
        host=host,
        port=int(port),
        lifespan="off",
        log_config=None,  # logging_setup's JSON lines
        access_log=False,  # Envoy's access log has every request, without the query
        server_header=False,
        timeout_graceful_shutdown=GRACE_SECONDS,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await backend.close()
