"""The web role: a grpc.aio server with the checkout pages (servers/roles/api.py's
PAGE_SERVICES), health and reflection, behind the same interceptors as the API. Envoy
routes /3ds/ (transcoded to /paygate.v1.CheckoutPageService/...) here.

It completes 3-D Secure challenges itself (PaymentLifecycle.complete_action), so it
reaches the database and the acquirers like an API process.
"""

from __future__ import annotations

from servers.roles.api import PAGE_SERVICES, serve
from servers.runtime import logging_setup
from servers.runtime.settings import Settings


async def run(settings: Settings, listen: str) -> None:
    logging_setup.configure(settings.log_level)
    if not settings.database_url:
        raise SystemExit("DATABASE_URL is required for `paygate serve` (paygate up sets it)")
    await serve(settings, listen, PAGE_SERVICES)
