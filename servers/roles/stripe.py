"""The Stripe-compatible surface (`paygate serve --role stripe`): servers/stripe's ASGI
app under uvicorn, on loopback behind Envoy's /stripe/ route. It holds no state and no
database connection: every call goes to the API processes over gRPC. Its metrics and
probes port (PAYGATE_METRICS_PORT) serves /metrics, /readyz and /livez like every role's."""

from __future__ import annotations

import uvicorn

from adapters.observability.metrics import process_metrics
from servers.runtime import envoy_config, logging_setup, operability
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
    async with operability.watching_stateless(process_metrics("stripe"), settings):
        try:
            await uvicorn.Server(config).serve()
        finally:
            await backend.close()
