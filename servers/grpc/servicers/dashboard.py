"""The dashboard's own RPCs: business profile and onboarding, analytics, the audit log."""

from __future__ import annotations

from google.api import httpbody_pb2
from paygate.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    audit_log_pb2,
    audit_log_pb2_grpc,
    business_profile_pb2,
    business_profile_pb2_grpc,
)

from core.access.audit_log import AuditLogReader, ExportFormat
from core.account.use_cases import BusinessProfiles
from core.analytics.use_cases import Analytics
from servers.grpc import dashboard_convert as convert
from servers.grpc.context import ServicerContext, caller


class BusinessProfileService(business_profile_pb2_grpc.BusinessProfileServiceServicer):
    def __init__(self, profiles: BusinessProfiles) -> None:
        self._profiles = profiles

    async def GetBusinessProfile(
        self, request: business_profile_pb2.GetBusinessProfileRequest, context: ServicerContext
    ) -> business_profile_pb2.BusinessProfile:
        return convert.business_profile(await self._profiles.get(caller()))

    async def UpdateBusinessProfile(
        self,
        request: business_profile_pb2.UpdateBusinessProfileRequest,
        context: ServicerContext,
    ) -> business_profile_pb2.BusinessProfile:
        profile = await self._profiles.update(caller(), convert.profile_update(request))
        return convert.business_profile(profile)

    async def GetOnboardingChecklist(
        self,
        request: business_profile_pb2.GetOnboardingChecklistRequest,
        context: ServicerContext,
    ) -> business_profile_pb2.OnboardingChecklist:
        return convert.onboarding(await self._profiles.checklist(caller()))


class AnalyticsService(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, analytics: Analytics) -> None:
        self._analytics = analytics

    async def GetPaymentAnalytics(
        self, request: analytics_pb2.GetPaymentAnalyticsRequest, context: ServicerContext
    ) -> analytics_pb2.PaymentAnalytics:
        result = await self._analytics.payments(
            caller(),
            currency=request.currency,
            start=convert.time_of(request.start, "start") if request.HasField("start") else None,
            end=convert.time_of(request.end, "end") if request.HasField("end") else None,
            interval=convert.interval(request.interval),
        )
        return convert.payment_analytics(result)


class AuditLogService(audit_log_pb2_grpc.AuditLogServiceServicer):
    def __init__(self, audit_log: AuditLogReader) -> None:
        self._audit_log = audit_log

    async def ListAuditEvents(
        self, request: audit_log_pb2.ListAuditEventsRequest, context: ServicerContext
    ) -> audit_log_pb2.ListAuditEventsResponse:
        page = await self._audit_log.list(
            caller(),
            convert.audit_filter(request),
            limit=request.limit,
            starting_after=request.starting_after,
        )
        return audit_log_pb2.ListAuditEventsResponse(
            data=[convert.audit_event(e) for e in page.data], has_more=page.has_more
        )

    async def ExportAuditEvents(
        self, request: audit_log_pb2.ExportAuditEventsRequest, context: ServicerContext
    ) -> httpbody_pb2.HttpBody:
        export_format = convert.export_format(request.format)
        where = convert.audit_filter(request)
        export = await self._audit_log.export(caller(), where, export_format)
        extension = "json" if export_format is ExportFormat.JSON else "csv"
        # Envoy passes response metadata on as HTTP headers: browsers save it as a file.
        await context.send_initial_metadata(
            (("content-disposition", f'attachment; filename="audit_events.{extension}"'),)
        )
        return httpbody_pb2.HttpBody(content_type=export.content_type, data=export.body)
