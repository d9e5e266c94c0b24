"""Events and webhook endpoints: proto -> use-case -> proto, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, timedelta

from paygate.v1 import (
    events_pb2,
    events_pb2_grpc,
    webhook_endpoints_pb2,
    webhook_endpoints_pb2_grpc,
)

from core.events.use_cases import EndpointSettings, Events, WebhookEndpoints
from servers.grpc import events_convert as convert
from servers.grpc.context import ServicerContext, caller

WE = webhook_endpoints_pb2


class EventService(events_pb2_grpc.EventServiceServicer):
    def __init__(self, events: Events, *, poll_seconds: float = 0.25) -> None:
        self._events = events
        self._poll_seconds = poll_seconds

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: ServicerContext
    ) -> events_pb2.ListEventsResponse:
        types = [*([request.type] if request.type else []), *request.types]
        page = await self._events.list(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            types=types,
            created_gte=(
                request.created.gte.ToDatetime(tzinfo=UTC)
                if request.created.HasField("gte")
                else None
            ),
            created_lte=(
                request.created.lte.ToDatetime(tzinfo=UTC)
                if request.created.HasField("lte")
                else None
            ),
            delivery_success=(
                request.delivery_success.value if request.HasField("delivery_success") else None
            ),
        )
        return events_pb2.ListEventsResponse(
            data=[convert.event(e) for e in page.data], has_more=page.has_more
        )

    async def GetEvent(
        self, request: events_pb2.GetEventRequest, context: ServicerContext
    ) -> events_pb2.Event:
        return convert.event(await self._events.get(caller(), request.id))

    async def ListenEvents(
        self, request: events_pb2.ListenEventsRequest, context: ServicerContext
    ) -> AsyncIterator[events_pb2.ListenEventsResponse]:
        follow = self._events.follow(
            caller(), list(request.events), poll_seconds=self._poll_seconds
        )
        async with aclosing(follow) as events:
            ready = await anext(events)  # None: listening has begun
            assert ready is None
            yield events_pb2.ListenEventsResponse(listening=True)
            async for event in events:
                assert event is not None
                yield events_pb2.ListenEventsResponse(event=convert.event(event))


class WebhookEndpointService(webhook_endpoints_pb2_grpc.WebhookEndpointServiceServicer):
    def __init__(self, endpoints: WebhookEndpoints) -> None:
        self._endpoints = endpoints

    async def CreateWebhookEndpoint(
        self, request: WE.CreateWebhookEndpointRequest, context: ServicerContext
    ) -> WE.WebhookEndpoint:
        created = await self._endpoints.create(
            caller(),
            EndpointSettings(
                url=request.url,
                enabled_events=tuple(request.enabled_events),
                description=request.description,
                signature_scheme=convert.signature_scheme(request.signature_scheme),
            ),
        )
        return convert.webhook_endpoint(created.endpoint, created.secret)

    async def GetWebhookEndpoint(
        self, request: WE.GetWebhookEndpointRequest, context: ServicerContext
    ) -> WE.WebhookEndpoint:
        return convert.webhook_endpoint(await self._endpoints.get(caller(), request.id))

    async def ListWebhookEndpoints(
        self, request: WE.ListWebhookEndpointsRequest, context: ServicerContext
    ) -> WE.ListWebhookEndpointsResponse:
        page = await self._endpoints.list(
            caller(), limit=request.limit, starting_after=request.starting_after
        )
        return WE.ListWebhookEndpointsResponse(
            data=[convert.webhook_endpoint(e) for e in page.data], has_more=page.has_more
        )

    async def UpdateWebhookEndpoint(
        self, request: WE.UpdateWebhookEndpointRequest, context: ServicerContext
    ) -> WE.WebhookEndpoint:
        settings = EndpointSettings(
            url=request.url.value if request.HasField("url") else None,
            enabled_events=tuple(request.enabled_events) if request.enabled_events else None,
            description=request.description.value if request.HasField("description") else None,
            disabled=request.disabled.value if request.HasField("disabled") else None,
        )
        return convert.webhook_endpoint(
            await self._endpoints.update(caller(), request.id, settings)
        )

    async def DeleteWebhookEndpoint(
        self, request: WE.DeleteWebhookEndpointRequest, context: ServicerContext
    ) -> WE.DeleteWebhookEndpointResponse:
        deleted = await self._endpoints.delete(caller(), request.id)
        return WE.DeleteWebhookEndpointResponse(id=deleted.id, deleted=True)

    async def RotateWebhookEndpointSecret(
        self, request: WE.RotateWebhookEndpointSecretRequest, context: ServicerContext
    ) -> WE.WebhookEndpoint:
        overlap = (
            timedelta(seconds=request.overlap_seconds.value)
            if request.HasField("overlap_seconds")
            else None
        )
        rotated = await self._endpoints.rotate_secret(caller(), request.id, overlap)
        return convert.webhook_endpoint(rotated.endpoint, rotated.secret)

    async def ListWebhookDeliveries(
        self, request: WE.ListWebhookDeliveriesRequest, context: ServicerContext
    ) -> WE.ListWebhookDeliveriesResponse:
        page = await self._endpoints.deliveries(
            caller(),
            event_id=request.event,
            endpoint_id=request.webhook_endpoint,
            limit=request.limit,
            starting_after=request.starting_after,
        )
        return WE.ListWebhookDeliveriesResponse(
            data=[convert.delivery_with_attempts(d) for d in page.data], has_more=page.has_more
        )

    async def RetryWebhookDelivery(
        self, request: WE.RetryWebhookDeliveryRequest, context: ServicerContext
    ) -> WE.WebhookDelivery:
        return convert.delivery(await self._endpoints.retry(caller(), request.id))

    async def ReplayWebhookDeliveries(
        self, request: WE.ReplayWebhookDeliveriesRequest, context: ServicerContext
    ) -> WE.ReplayWebhookDeliveriesResponse:
        since = request.since.ToDatetime(tzinfo=UTC) if request.HasField("since") else None
        count = await self._endpoints.replay(caller(), request.id, since)
        return WE.ReplayWebhookDeliveriesResponse(requeued=count)
