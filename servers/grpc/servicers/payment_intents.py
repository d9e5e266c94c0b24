from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from paygate.v1 import payment_intents_pb2 as pb
from paygate.v1 import payment_intents_pb2_grpc

from core.payments.lifecycle import PaymentLifecycle
from core.payments.model import PaymentIntent
from core.payments.use_cases import PaymentIntents, UpdatePaymentIntent
from core.payments.watch import IntentWatch, WatchEnd
from servers.grpc import convert
from servers.grpc.context import ServicerContext, caller
from servers.grpc.idempotency import answer_with


class PaymentIntentService(payment_intents_pb2_grpc.PaymentIntentServiceServicer):
    def __init__(
        self,
        intents: PaymentIntents,
        payments: PaymentLifecycle,
        watch: IntentWatch,
        checkout_base_url: str = "",
    ) -> None:
        self._intents = intents
        self._payments = payments
        self._watch = watch
        self._checkout_base_url = checkout_base_url

    def _out(self, intent: PaymentIntent) -> pb.PaymentIntent:
        # The browser's view leaves checkout_url out with the merchant's other fields:
        # the browser is on that page already.
        base = "" if caller().is_publishable else self._checkout_base_url
        return convert.payment_intent(intent, checkout_base_url=base)

    async def CreatePaymentIntent(
        self, request: pb.CreatePaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        command = convert.create_command(request)
        answer_with(self._out)
        return self._out(await self._intents.create(caller(), command))

    async def GetPaymentIntent(
        self, request: pb.GetPaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        intent = await self._intents.get(caller(), request.id, client_secret=request.client_secret)
        return self._out(intent)

    async def ListPaymentIntents(
        self, request: pb.ListPaymentIntentsRequest, context: ServicerContext
    ) -> pb.ListPaymentIntentsResponse:
        page = await self._intents.list(
            caller(),
            limit=request.limit,
            starting_after=request.starting_after,
            status=convert.status_filter(request.status),
        )
        return pb.ListPaymentIntentsResponse(
            data=[self._out(i) for i in page.data], has_more=page.has_more
        )

    async def UpdatePaymentIntent(
        self, request: pb.UpdatePaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        command = UpdatePaymentIntent(
            description=request.description.value if request.HasField("description") else None,
            metadata=dict(request.metadata),
            receipt_email=(
                request.receipt_email.value if request.HasField("receipt_email") else None
            ),
        )
        return self._out(await self._intents.update(caller(), request.id, command))

    async def ConfirmPaymentIntent(
        self, request: pb.ConfirmPaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        answer_with(self._out)
        intent = await self._payments.confirm(
            caller(), request.id, convert.confirm_command(request)
        )
        return self._out(intent)

    async def CapturePaymentIntent(
        self, request: pb.CapturePaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        answer_with(self._out)
        intent = await self._payments.capture(caller(), request.id, request.amount_to_capture)
        return self._out(intent)

    async def CancelPaymentIntent(
        self, request: pb.CancelPaymentIntentRequest, context: ServicerContext
    ) -> pb.PaymentIntent:
        answer_with(self._out)
        intent = await self._payments.cancel(caller(), request.id, request.cancellation_reason)
        return self._out(intent)

    async def WatchPaymentIntent(
        self, request: pb.WatchPaymentIntentRequest, context: ServicerContext
    ) -> AsyncIterator[pb.WatchPaymentIntentResponse]:
        updates = self._watch.watch(caller(), request.id, client_secret=request.client_secret)
        # Closed here, not whenever the garbage collector gets to it: a client that goes
        # away stops the subscription at once.
        async with aclosing(updates):
            async for update in updates:
                yield pb.WatchPaymentIntentResponse(
                    payment_intent=self._out(update.intent),
                    final=update.final,
                    reason=(
                        _END_REASONS[update.end]
                        if update.end
                        else pb.WatchPaymentIntentResponse.END_REASON_UNSPECIFIED
                    ),
                )


_END_REASONS = {
    WatchEnd.TERMINAL_STATUS: pb.WatchPaymentIntentResponse.TERMINAL_STATUS,
    WatchEnd.MAX_DURATION: pb.WatchPaymentIntentResponse.MAX_DURATION,
    WatchEnd.INTERRUPTED: pb.WatchPaymentIntentResponse.INTERRUPTED,
}
