"""Core objects <-> protobuf messages of the dashboard's RPCs: the business profile,
analytics and the audit log. Pure translation, no rules."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from paygate.v1 import analytics_pb2, audit_log_pb2, business_profile_pb2, payment_intents_pb2

from core.access.audit import RecordedAuditEvent
from core.access.audit_log import AuditFilter, ExportFormat, event_id
from core.account.profile import EDITABLE, BusinessProfile, ProfileUpdate
from core.account.use_cases import OnboardingChecklist
from core.analytics.model import Figures, Interval, PaymentAnalytics
from core.shared.errors import FieldViolation, InvalidArgument
from servers.grpc.convert import capture_method, timestamp

PI = payment_intents_pb2.PaymentIntent
PA = analytics_pb2.PaymentAnalytics
EXPORT = audit_log_pb2.ExportAuditEventsRequest
E = TypeVar("E", bound=StrEnum)


def time_of(message: Timestamp, field: str) -> datetime:
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.field(field, "is not a valid timestamp") from None


def business_profile(profile: BusinessProfile) -> business_profile_pb2.BusinessProfile:
    return business_profile_pb2.BusinessProfile(
        account=profile.merchant_id,
        business_name=profile.business_name,
        statement_descriptor=profile.statement_descriptor,
        support_email=profile.support_email,
        support_url=profile.support_url,
        country=profile.country,
        accepted_currencies=profile.accepted_currencies,
        default_capture_method=PI.CaptureMethod.Value(profile.default_capture_method.value),
        branding_color=profile.branding_color,
        logo_url=profile.logo_url,
        updated=timestamp(profile.updated),
    )


def profile_update(request: business_profile_pb2.UpdateBusinessProfileRequest) -> ProfileUpdate:
    if not request.HasField("profile"):
        raise InvalidArgument(
            [FieldViolation("profile", "is required: the fields to change", missing=True)]
        )
    p = request.profile
    try:
        method = capture_method(p.default_capture_method)
    except InvalidArgument:
        raise InvalidArgument.field(
            "profile.default_capture_method", "must be AUTOMATIC or MANUAL"
        ) from None
    values: dict[str, object] = {name: getattr(p, name) for name in EDITABLE}
    values["accepted_currencies"] = tuple(p.accepted_currencies)
    values["default_capture_method"] = method
    return ProfileUpdate(values=values, fields=tuple(request.update_mask))


def onboarding(checklist: OnboardingChecklist) -> business_profile_pb2.OnboardingChecklist:
    return business_profile_pb2.OnboardingChecklist(
        profile_complete=checklist.profile_complete,
        missing_profile_fields=checklist.missing_profile_fields,
        api_key_created=checklist.api_key_created,
        webhook_endpoint_set=checklist.webhook_endpoint_set,
        test_payment_made=checklist.test_payment_made,
        complete=checklist.complete,
    )


def _member(core: type[E], wrapper: Any, value: int, field: str) -> E | None:
    """The core enum member named like the proto value; None for the zero value."""
    if value == 0:
        return None
    try:
        return core(wrapper.Name(value))
    except ValueError:
        names = " or ".join(m.value for m in core)
        raise InvalidArgument.field(field, f"must be {names}") from None


def interval(value: PA.Interval.ValueType) -> Interval | None:
    return _member(Interval, PA.Interval, value, "interval")


def figures(value: Figures) -> analytics_pb2.AnalyticsFigures:
    return analytics_pb2.AnalyticsFigures(
        payments=value.payments,
        succeeded=value.succeeded,
        failed=value.failed,
        success_rate=value.success_rate,
        volume=value.volume,
        refunds=value.refunds,
        disputes=value.disputes,
        fees=value.fees,
        net=value.net,
    )


def payment_analytics(result: PaymentAnalytics) -> analytics_pb2.PaymentAnalytics:
    span = result.range
    return analytics_pb2.PaymentAnalytics(
        currency=span.currency,
        start=timestamp(span.start),
        end=timestamp(span.end),
        interval=PA.Interval.Value(span.interval.value),
        totals=figures(result.totals),
        buckets=[
            analytics_pb2.AnalyticsBucket(start=timestamp(start), figures=figures(f))
            for start, f in result.buckets
        ],
        decline_reasons=[
            analytics_pb2.DeclineReasonCount(reason=reason, count=count)
            for reason, count in result.decline_reasons
        ],
    )


def audit_filter(
    request: audit_log_pb2.ListAuditEventsRequest | audit_log_pb2.ExportAuditEventsRequest,
) -> AuditFilter:
    occurred = request.occurred
    return AuditFilter(
        actor=request.actor,
        action=request.action,
        occurred_from=(time_of(occurred.gte, "occurred.gte") if occurred.HasField("gte") else None),
        occurred_to=time_of(occurred.lte, "occurred.lte") if occurred.HasField("lte") else None,
    )


def export_format(value: EXPORT.Format.ValueType) -> ExportFormat:
    return _member(ExportFormat, EXPORT.Format, value, "format") or ExportFormat.CSV


def audit_event(recorded: RecordedAuditEvent) -> audit_log_pb2.AuditEvent:
    event = recorded.event
    return audit_log_pb2.AuditEvent(
        id=event_id(recorded),
        occurred_at=timestamp(event.occurred_at),
        action=event.action.value,
        outcome=audit_log_pb2.AuditEvent.Outcome.Value(event.outcome.value),
        actor=event.actor,
        origin=event.origin,
        target=event.target,
        details=dict(event.details),
    )
