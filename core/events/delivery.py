"""Sending webhooks: the worker's side of the outbox.

    claim    one transaction: lease due deliveries (FOR UPDATE SKIP LOCKED), count the
             attempt, commit                                    -> nothing is held open
    send     check the URL again (DNS may have changed), sign, POST to the checked
             address; no transaction is open during the call
    record   one transaction: the attempt into the log; the delivery SUCCEEDED, retried
             later (schedule, jitter, Retry-After) or FAILED; the endpoint disabled on
             410 or after failing for policy.disable_after, with an event saying so

When idle it claims again as soon as it is told a delivery may be due (DeliveryWakeups:
the triggers of migration 0020_webhook_due, LISTENed to by adapters/sql/webhook_due.py),
when a retry it scheduled comes due, and otherwise every `listening_idle_seconds` (a
killed worker's lease running out, anything not told); without a listening feed, every
`idle_seconds` (0.1 s) as before.

A lease outlives the request (policy.lease = timeout + margin), so a live worker always
records before anyone else may take the delivery; a killed worker's lease runs out and
another worker sends it again: at least once, never lost. A result recorded under a lease
that is no longer the holder's goes into the log but changes nothing.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.events.model import (
    Claimed,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Event,
    EventType,
    SignatureScheme,
    WebhookEndpoint,
    WebhookPolicy,
    next_attempt_delay,
)
from core.events.outbox import EventOutbox
from core.events.ports import DeliveryWakeups, SendResult, WebhookSender
from core.events.signing import headers as signed_headers
from core.events.signing import loggable, stripe_headers
from core.events.ssrf import UrlGuard, UrlRefused
from core.shared.ports import Clock, IdGenerator
from core.shared.secret import Secret
from core.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

EventBody = Callable[[Event], bytes]

GONE = 410
BODY_LOG_LIMIT = 1024


def event_body(event: Event) -> bytes:
    return json.dumps(event.envelope(), separators=(",", ":"), sort_keys=False).encode()


# How each scheme signs an attempt: (secrets, event id, timestamp, body) -> headers.
SIGNERS: dict[SignatureScheme, Callable[[Sequence[Secret], str, int, bytes], dict[str, str]]] = {
    SignatureScheme.STANDARD_WEBHOOKS: signed_headers,
    SignatureScheme.STRIPE: stripe_headers,
}


@dataclass(frozen=True)
class Outcome:
    attempt: DeliveryAttempt
    delivery: Delivery | None  # as recorded; None when the lease had been lost


class WebhookDispatcher:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        ids: IdGenerator,
        clock: Clock,
        *,
        sender: WebhookSender,
        guard: UrlGuard,
        outbox: EventOutbox,
        policy: WebhookPolicy | None = None,
        random: Callable[[], float] = lambda: 0.5,
        bodies: Mapping[SignatureScheme, EventBody] | None = None,
    ) -> None:
        self._uow = uow
        self._ids = ids
        self._clock = clock
        self._sender = sender
        self._guard = guard
        self._outbox = outbox
        self.policy = policy or WebhookPolicy()
        self._random = random
        # The body of a delivery by its endpoint's scheme; the API's own rendering unless
        # the composition root gives another (servers/stripe renders Stripe's).
        self._bodies = dict(bodies or {})
        # Set when a delivery may be due (DeliveryWakeups), cleared before each claim.
        self._due = asyncio.Event()
        # The retries this dispatcher scheduled and has not claimed since (a heap).
        self._retries: list[datetime] = []

    async def claim(self, limit: int) -> list[Claimed]:
        now = self._clock.now()
        async with self._uow() as uow:
            claimed = await uow.webhook_deliveries.claim_due(
                now,
                now + self.policy.lease,
                self._ids.secret(12),
                limit=limit,
                per_endpoint=self.policy.endpoint_concurrency,
            )
            await uow.commit()
        return list(claimed)

    async def deliver(self, claimed: Claimed) -> Outcome:
        endpoint, event = claimed.endpoint, claimed.event
        started = self._clock.now()
        scheme = endpoint.signature_scheme
        body = self._bodies.get(scheme, event_body)(event)
        sent = SIGNERS[scheme](
            endpoint.signing_secrets(started), event.id, int(started.timestamp()), body
        )
        try:
            destination = await self._guard.check(endpoint.url, livemode=endpoint.livemode)
        except UrlRefused as refused:
            result = SendResult(0, "", 0, error=f"URL refused: {refused.why}")
        else:
            result = await self._sender.send(destination, sent, body, within=self.policy.timeout)
        attempt = DeliveryAttempt(
            id=self._ids.new("wha"),
            delivery_id=claimed.delivery.id,
            event_id=event.id,
            endpoint_id=endpoint.id,
            merchant_id=event.merchant_id,
            attempted_at=started,
            request_headers=loggable(sent),
            status_code=result.status_code,
            response_body=result.body[:BODY_LOG_LIMIT],
            latency_ms=result.latency_ms,
            error=result.error,
        )
        return await self._record(claimed, attempt, result)

    async def _record(
        self, claimed: Claimed, attempt: DeliveryAttempt, result: SendResult
    ) -> Outcome:
        now = self._clock.now()
        async with self._uow() as uow:
            await uow.webhook_deliveries.add_attempt(attempt)
            delivery = await uow.webhook_deliveries.get(
                attempt.merchant_id, attempt.delivery_id, for_update=True
            )
            if (
                delivery is None
                or delivery.lease_token != claimed.delivery.lease_token
                or delivery.status is not DeliveryStatus.PENDING
            ):
                await uow.commit()  # the log keeps the attempt; the state is someone else's
                return Outcome(attempt, None)
            delivery.lease_until, delivery.lease_token = None, ""
            delivery.last_status_code, delivery.last_error = result.status_code, result.error
            if attempt.succeeded:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.SUCCEEDED, None
                if claimed.endpoint.failing_since is not None:
                    await self._endpoint_healthy(uow, claimed.endpoint)
            elif result.status_code == GONE:
                delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                await self._disable(uow, claimed.endpoint, "the endpoint answered 410 Gone", now)
            else:
                delay = next_attempt_delay(
                    self.policy,
                    delivery.attempts,
                    jitter=self._random(),
                    retry_after=result.retry_after,
                )
                if delay is None:
                    delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
                else:
                    delivery.next_attempt_at = now + timedelta(seconds=delay)
                    self._retry_at(delivery.next_attempt_at)
                await self._endpoint_failing(uow, claimed.endpoint, now)
            await uow.webhook_deliveries.update(delivery)
            await uow.commit()
        return Outcome(attempt, delivery)

    async def _endpoint_healthy(self, uow: UnitOfWork, seen: WebhookEndpoint) -> None:
        endpoint = await uow.webhook_endpoints.get(seen.merchant_id, seen.id, for_update=True)
        if endpoint is not None and endpoint.failing_since is not None:
            endpoint.failing_since = None
            await uow.webhook_endpoints.update(endpoint)

    async def _endpoint_failing(
        self, uow: UnitOfWork, seen: WebhookEndpoint, now: datetime
    ) -> None:
        if seen.failing_since is not None and now - seen.failing_since < self.policy.disable_after:
            return  # known to be failing, not for long enough: no lock taken
        endpoint = await uow.webhook_endpoints.get(seen.merchant_id, seen.id, for_update=True)
        if endpoint is None or endpoint.disabled:
            return
        if endpoint.failing_since is None:
            endpoint.failing_since = now
            await uow.webhook_endpoints.update(endpoint)
        elif now - endpoint.failing_since >= self.policy.disable_after:
            days = self.policy.disable_after.total_seconds() / 86400
            await self._disable(
                uow, endpoint, f"every delivery failed for {days:g} days", now, locked=True
            )

    async def _disable(
        self,
        uow: UnitOfWork,
        seen: WebhookEndpoint,
        reason: str,
        now: datetime,
        *,
        locked: bool = False,
    ) -> None:
        endpoint = (
            seen
            if locked
            else await uow.webhook_endpoints.get(seen.merchant_id, seen.id, for_update=True)
        )
        if endpoint is None or endpoint.disabled:
            return
        endpoint.disabled, endpoint.disabled_reason = True, reason
        await uow.webhook_endpoints.update(endpoint)
        log.warning(
            "webhook endpoint disabled",
            extra={"fields": {"endpoint": endpoint.id, "reason": reason}},
        )
        await self._outbox.publish(
            uow,
            merchant_id=endpoint.merchant_id,
            type=EventType.WEBHOOK_ENDPOINT_DISABLED.value,
            obj=endpoint,
            livemode=endpoint.livemode,
            at=now,
            exclude_endpoint=endpoint.id,
        )

    # --- running -------------------------------------------------------------------------

    async def run_once(self, limit: int = 100) -> list[Outcome]:
        """Claims what is due and sends it all: for tests and one-off runs."""
        claimed = await self.claim(limit)
        return list(await asyncio.gather(*(self.deliver(c) for c in claimed)))

    async def run(
        self,
        stop: asyncio.Event,
        *,
        max_in_flight: int = 200,
        idle_seconds: float = 0.1,
        wakeups: DeliveryWakeups | None = None,
        listening_idle_seconds: float = 2.0,
    ) -> None:
        """Sends until `stop`: claims whenever there is room for more requests, so one
        slow endpoint (capped at policy.endpoint_concurrency requests) never holds up
        the others. Requests in flight finish (and are recorded) before it returns.

        Idle, it waits for the next of: a request ending (room to claim), `wakeups`
        telling of a delivery that may be due, a retry it scheduled coming due, and
        `listening_idle_seconds` while `wakeups` is listening, else `idle_seconds`."""
        if wakeups is not None:
            wakeups.follow(self._due.set)
        in_flight: set[asyncio.Task[None]] = set()
        failures = 0
        while not stop.is_set():
            self._due.clear()  # told from now on: the next wait ends at once
            room = max_in_flight - len(in_flight)
            claimed: list[Claimed] = []
            if room > 0:
                self._claiming()
                try:
                    claimed = await self.claim(min(room, 100))
                    failures = 0
                except Exception:
                    failures += 1
                    log.exception("claiming webhook deliveries failed")
            for item in claimed:
                task = asyncio.create_task(self._deliver_logged(item))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if claimed and len(claimed) >= min(room, 100):
                await asyncio.sleep(0)  # more may be due: claim again at once
                continue
            if failures or wakeups is None or not wakeups.listening:
                wait = min(idle_seconds * 2**failures, 5.0)
            else:
                wait = self._until_next_retry(listening_idle_seconds)
            stopping = asyncio.ensure_future(stop.wait())
            due = asyncio.ensure_future(self._due.wait())
            # Wakes when stopping, when a request ends (room to claim), when told of a
            # due delivery, or after `wait`.
            await asyncio.wait(
                {stopping, due, *in_flight}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
            )
            stopping.cancel()
            due.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _retry_at(self, at: datetime) -> None:
        heapq.heappush(self._retries, at)

    def _claiming(self) -> None:
        """The retries that came due are claimed now (or found claimed elsewhere)."""
        now = self._clock.now()
        while self._retries and self._retries[0] <= now:
            heapq.heappop(self._retries)

    def _until_next_retry(self, longest: float) -> float:
        if not self._retries:
            return longest
        left = (self._retries[0] - self._clock.now()).total_seconds()
        return min(max(left, 0.0), longest)

    async def _deliver_logged(self, claimed: Claimed) -> None:
        try:
            await self.deliver(claimed)
        except Exception:
            # Not recorded: the lease runs out and the delivery is sent again.
            log.exception("webhook delivery %s failed", claimed.delivery.id)
