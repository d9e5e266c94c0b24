"""Core objects <-> protobuf messages. Pure translation, no rules."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from paygate.v1 import api_keys_pb2, auth_pb2, members_pb2, payment_intents_pb2, refunds_pb2

from core.access.authentication import AccountAccess, SessionTokens
from core.access.members import Invitation, InvitationStatus, Member
from core.access.model import ApiKey, KeyType, Merchant
from core.access.roles import Role
from core.access.users import User
from core.payments.checkout import checkout_url
from core.payments.lifecycle import ConfirmPaymentIntent
from core.payments.model import (
    CaptureMethod,
    PaymentIntent,
    PaymentMethodDetails,
    Refund,
    Status,
)
from core.payments.redirect_methods import BANKS, WALLET_PROVIDERS
from core.payments.use_cases import CreatePaymentIntent
from core.risk.model import RiskAssessment
from core.shared.errors import InvalidArgument

PI = payment_intents_pb2.PaymentIntent


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def timestamp(value: datetime | None) -> Timestamp | None:
    """Timestamp.FromDatetime's value (a naive datetime is UTC) by integer arithmetic on
    the time since the epoch, not through a time tuple and calendar.timegm: exact, and
    several times cheaper on every message with a time."""
    if value is None:
        return None
    ts = Timestamp()
    set_time(ts, value)
    return ts


def set_time(field: Timestamp, value: datetime) -> None:
    """`field` (a message's Timestamp, set in place: no message built and copied) holds
    `value`, as `timestamp` gives it."""
    tz = value.tzinfo
    if tz is UTC:
        since = value - _EPOCH
    elif tz is None:
        since = value - _NAIVE_EPOCH
    else:  # another zone: its offset may hold microseconds, which FromDatetime drops
        field.FromDatetime(value)
        return
    field.seconds = since.days * 86_400 + since.seconds
    field.nanos = since.microseconds * 1000


# Each status and capture method of the domain by its number in the API: a dictionary
# read (StrEnum hashes as its text) rather than the enum's value and protobuf's lookup of
# the name, on every intent answered.
_STATUS = {status: PI.Status.Value(status.value) for status in Status}
_CAPTURE_METHOD = {method: PI.CaptureMethod.Value(method.value) for method in CaptureMethod}


def payment_intent(
    intent: PaymentIntent, *, checkout_base_url: str = ""
) -> payment_intents_pb2.PaymentIntent:
    """The intent as the API shows it; checkout_url when the web role's URL is known."""
    message = PI(
        id=intent.id,
        amount=intent.amount,
        currency=intent.currency,
        status=_STATUS[intent.status],
        capture_method=_CAPTURE_METHOD[intent.capture_method],
        amount_capturable=intent.amount_capturable,
        amount_received=intent.amount_received,
        amount_refunded=intent.amount_refunded,
        client_secret=intent.client_secret,
        payment_method=intent.payment_method,
        attempts=intent.attempts,
        livemode=intent.livemode,
        metadata=intent.metadata,
        cancellation_reason=intent.cancellation_reason,
        description=intent.description,
        receipt_email=intent.receipt_email,
        return_url=intent.return_url,
        payment_method_types=intent.payment_method_types,
        latest_attempt=intent.latest_attempt,
        success_url=intent.success_url,
        cancel_url=intent.cancel_url,
        checkout_url=checkout_url(checkout_base_url, intent) if checkout_base_url else "",
    )
    if intent.created is not None:
        set_time(message.created, intent.created)
    if intent.canceled_at is not None:
        set_time(message.canceled_at, intent.canceled_at)
    if intent.last_payment_error:
        error = intent.last_payment_error
        message.last_payment_error.code = error.code
        message.last_payment_error.decline_code = error.decline_code
        message.last_payment_error.message = error.message
    if intent.next_action:
        action = intent.next_action
        message.next_action.type = payment_intents_pb2.NextAction.Type.Value(action.type)
        message.next_action.url = action.url
        message.next_action.qr_code = action.qr_code
    if intent.risk:
        message.risk.CopyFrom(risk(intent.risk))
    if intent.payment_method_details:
        message.payment_method_details.CopyFrom(
            payment_method_details(intent.payment_method_details)
        )
    return message


def payment_method_details(
    details: PaymentMethodDetails,
) -> payment_intents_pb2.PaymentMethodDetails:
    """The type and its details; a details message is set even when its fields are empty,
    so that the oneof always says which type it is."""
    PMD = payment_intents_pb2.PaymentMethodDetails
    kind = details.type
    if kind == "card":
        return PMD(type=kind, card=PMD.Card(brand=details.card_brand, last4=details.card_last4))
    if kind == "upi":
        return PMD(type=kind, upi=PMD.Upi(vpa=details.upi_vpa))
    if kind == "wallet":
        provider = details.wallet_provider
        return PMD(
            type=kind,
            wallet=PMD.Wallet(provider=provider, name=WALLET_PROVIDERS.get(provider, "")),
        )
    if kind == "netbanking":
        bank = details.netbanking_bank
        return PMD(type=kind, netbanking=PMD.NetBanking(bank=bank, name=BANKS.get(bank, "")))
    return PMD(type=kind)


def risk(assessment: RiskAssessment) -> payment_intents_pb2.Risk:
    return payment_intents_pb2.Risk(
        score=assessment.score,
        decision=payment_intents_pb2.Risk.Decision.Value(assessment.decision.value),
        rules_version=assessment.rules_version,
        reasons=[
            payment_intents_pb2.RiskReason(rule=r.rule, kind=r.kind, score=r.score, detail=r.detail)
            for r in assessment.reasons
        ],
    )


def create_command(request: payment_intents_pb2.CreatePaymentIntentRequest) -> CreatePaymentIntent:
    return CreatePaymentIntent(
        amount=request.amount,
        currency=request.currency,
        capture_method=capture_method(request.capture_method),
        payment_method_types=tuple(request.payment_method_types),
        description=request.description,
        metadata=dict(request.metadata),
        receipt_email=request.receipt_email,
        return_url=request.return_url,
        success_url=request.success_url,
        cancel_url=request.cancel_url,
    )


def confirm_command(
    request: payment_intents_pb2.ConfirmPaymentIntentRequest,
) -> ConfirmPaymentIntent:
    return ConfirmPaymentIntent(
        payment_method=request.payment_method,
        upi_vpa=request.upi.vpa if request.HasField("upi") else None,
        wallet_provider=request.wallet.provider if request.HasField("wallet") else None,
        netbanking_bank=request.netbanking.bank if request.HasField("netbanking") else None,
        client_secret=request.client_secret,
        return_url=request.return_url,
        device_fingerprint=request.device_fingerprint,
    )


def refund(value: Refund) -> refunds_pb2.Refund:
    return refunds_pb2.Refund(
        id=value.id,
        payment_intent=value.payment_intent_id,
        amount=value.amount,
        currency=value.currency,
        status=refunds_pb2.Refund.Status.Value(value.status.value),
        reason=value.reason,
        failure_reason=value.failure_code,
        created=timestamp(value.created),
        livemode=value.livemode,
    )


def capture_method(value: PI.CaptureMethod.ValueType) -> CaptureMethod | None:
    if value == PI.CAPTURE_METHOD_UNSPECIFIED:
        return None
    try:
        return CaptureMethod(PI.CaptureMethod.Name(value))
    except ValueError:
        raise InvalidArgument.field("capture_method", "must be AUTOMATIC or MANUAL") from None


def status_filter(value: PI.Status.ValueType) -> Status | None:
    if value == PI.STATUS_UNSPECIFIED:
        return None
    try:
        return Status(PI.Status.Name(value))
    except ValueError:
        raise InvalidArgument.field("status", "is not a payment intent status") from None


def api_key(key: ApiKey, plaintext: str = "") -> api_keys_pb2.ApiKey:
    return api_keys_pb2.ApiKey(
        id=key.id,
        type=api_keys_pb2.ApiKey.Type.Value(key.type.value),
        role=role_message(key.role),
        secret=plaintext,
        prefix=key.lookup,
        last4=key.last4,
        livemode=key.livemode,
        created=timestamp(key.created),
        revoked_at=timestamp(key.revoked_at),
        last_used=timestamp(key.last_used_at),
        usage_count=key.usage_count,
        expires_at=timestamp(key.expires_at),
        allowed_ips=list(key.allowed_ips),
    )


def key_type(value: api_keys_pb2.ApiKey.Type.ValueType) -> KeyType | None:
    if value == api_keys_pb2.ApiKey.TYPE_UNSPECIFIED:
        return None
    try:
        return KeyType(api_keys_pb2.ApiKey.Type.Name(value))
    except ValueError:
        raise InvalidArgument.field("type", "must be SECRET or PUBLISHABLE") from None


def role_message(value: Role | None) -> api_keys_pb2.Role.ValueType:
    return api_keys_pb2.Role.Value(value.value) if value else api_keys_pb2.ROLE_UNSPECIFIED


def role(value: api_keys_pb2.Role.ValueType) -> Role | None:
    if value == api_keys_pb2.ROLE_UNSPECIFIED:
        return None
    try:
        return Role(api_keys_pb2.Role.Name(value))
    except ValueError:
        raise InvalidArgument.field("role", "is not a role") from None


# --- users, sessions, members -----------------------------------------------------------


def user(value: User) -> auth_pb2.User:
    return auth_pb2.User(id=value.id, email=value.email, created=timestamp(value.created))


def account(merchant: Merchant) -> auth_pb2.Account:
    return auth_pb2.Account(id=merchant.id, name=merchant.name, created=timestamp(merchant.created))


def session(tokens: SessionTokens) -> auth_pb2.Session:
    return auth_pb2.Session(
        access_token=tokens.access_token.reveal(),
        refresh_token=tokens.refresh_token.reveal(),
        expires_in=tokens.expires_in,
        token_type="Bearer",
        refresh_token_expires_in=tokens.refresh_expires_in,
        user=user(tokens.user),
        accounts=[_account_membership(a) for a in tokens.accounts],
    )


def _account_membership(access: AccountAccess) -> auth_pb2.AccountMembership:
    return auth_pb2.AccountMembership(
        account=account(access.merchant), role=role_message(access.role)
    )


def member(value: Member) -> members_pb2.Member:
    return members_pb2.Member(
        user_id=value.user_id,
        email=value.email,
        role=role_message(value.role),
        created=timestamp(value.created),
    )


def invitation(
    value: Invitation, status: InvitationStatus, token: str = ""
) -> members_pb2.Invitation:
    return members_pb2.Invitation(
        id=value.id,
        email=value.email,
        role=role_message(value.role),
        token=token,
        created=timestamp(value.created),
        expires_at=timestamp(value.expires_at),
        invited_by=value.invited_by,
        status=members_pb2.Invitation.Status.Value(status.value),
    )


def invitation_status(value: members_pb2.Invitation.Status.ValueType) -> InvitationStatus | None:
    if value == members_pb2.Invitation.STATUS_UNSPECIFIED:
        return None
    try:
        return InvitationStatus(members_pb2.Invitation.Status.Name(value))
    except ValueError:
        raise InvalidArgument.field("status", "is not an invitation status") from None
