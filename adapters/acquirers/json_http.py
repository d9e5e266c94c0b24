"""HTTP for the JSON PSP connectors (orbit_client.py, kora_client.py): one httpx client,
and the port's reading of what happened on the wire, the same for every PSP:

    no connection (refused, connect timeout, no free connection)  AcquirerUnavailable:
                                                                   nothing was sent
    sent, then no answer (read timeout, a dropped connection)      AcquirerTimeout:
                                                                   outcome unknown
    a 5xx answer                                                   AcquirerTimeout too

Each connector reads its PSP's bodies and error shapes itself.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.payments.acquirer import AcquirerTimeout, AcquirerUnavailable


class JsonHttp:
    def __init__(
        self,
        base_url: str,
        name: str,
        *,
        timeout_seconds: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        timeout = httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 2.0))
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._name = name

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self, method: str, path: str, reference: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """The answer, with our reference as the request's Idempotency-Key."""
        try:
            response = await self._http.request(
                method, path, json=body, headers={"Idempotency-Key": reference}
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise AcquirerUnavailable(
                f"{self._name} could not be reached; nothing was sent."
            ) from None
        except httpx.TransportError:
            raise AcquirerTimeout(
                reference, f"No answer from {self._name} for {reference}."
            ) from None
        if response.status_code >= 500:
            raise AcquirerTimeout(reference, f"{self._name} answered {response.status_code}.")
        return response

    def body(self, response: httpx.Response, reference: str) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = response.json()
        except ValueError:
            raise AcquirerTimeout(reference, f"{self._name}'s answer was not JSON.") from None
        return parsed
