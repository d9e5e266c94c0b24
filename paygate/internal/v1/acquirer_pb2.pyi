import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Acquirer(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACQUIRER_UNSPECIFIED: _ClassVar[Acquirer]
    ACQUIRER_CARD_NETWORK: _ClassVar[Acquirer]
    ACQUIRER_UPI_SWITCH: _ClassVar[Acquirer]
ACQUIRER_UNSPECIFIED: Acquirer
ACQUIRER_CARD_NETWORK: Acquirer
ACQUIRER_UPI_SWITCH: Acquirer

class Money(_message.Message):
    __slots__ = ("amount", "currency")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency: str
    def __init__(self, amount: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class CardSource(_message.Message):
    __slots__ = ("number", "exp_month", "exp_year", "brand", "cvc", "holder_name")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXP_MONTH_FIELD_NUMBER: _ClassVar[int]
    EXP_YEAR_FIELD_NUMBER: _ClassVar[int]
    BRAND_FIELD_NUMBER: _ClassVar[int]
    CVC_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    number: str
    exp_month: int
    exp_year: int
    brand: str
    cvc: str
    holder_name: str
    def __init__(self, number: _Optional[str] = ..., exp_month: _Optional[int] = ..., exp_year: _Optional[int] = ..., brand: _Optional[str] = ..., cvc: _Optional[str] = ..., holder_name: _Optional[str] = ...) -> None: ...

class UpiSource(_message.Message):
    __slots__ = ("vpa",)
    VPA_FIELD_NUMBER: _ClassVar[int]
    vpa: str
    def __init__(self, vpa: _Optional[str] = ...) -> None: ...

class AuthorizeRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference", "merchant_id", "amount", "card", "upi", "merchant_name", "description")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    UPI_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    merchant_id: str
    amount: Money
    card: CardSource
    upi: UpiSource
    merchant_name: str
    description: str
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., card: _Optional[_Union[CardSource, _Mapping]] = ..., upi: _Optional[_Union[UpiSource, _Mapping]] = ..., merchant_name: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CompleteChallengeRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference", "passed")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    passed: bool
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ..., passed: _Optional[bool] = ...) -> None: ...

class LookupRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ...) -> None: ...

class LookupResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AuthorizationResult
    def __init__(self, result: _Optional[_Union[AuthorizationResult, _Mapping]] = ...) -> None: ...

class CaptureRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference", "capture_reference", "merchant_id", "amount", "final")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    capture_reference: str
    merchant_id: str
    amount: Money
    final: bool
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ..., capture_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., final: _Optional[bool] = ...) -> None: ...

class VoidRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference", "merchant_id", "reason")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    merchant_id: str
    reason: str
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RefundRequest(_message.Message):
    __slots__ = ("acquirer", "attempt_reference", "refund_reference", "merchant_id", "amount", "reason")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REFUND_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    attempt_reference: str
    refund_reference: str
    merchant_id: str
    amount: Money
    reason: str
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., attempt_reference: _Optional[str] = ..., refund_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class NextAction(_message.Message):
    __slots__ = ("type", "url", "qr_code")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[NextAction.Type]
        TYPE_REDIRECT_TO_URL: _ClassVar[NextAction.Type]
        TYPE_UPI_COLLECT: _ClassVar[NextAction.Type]
    TYPE_UNSPECIFIED: NextAction.Type
    TYPE_REDIRECT_TO_URL: NextAction.Type
    TYPE_UPI_COLLECT: NextAction.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    type: NextAction.Type
    url: str
    qr_code: str
    def __init__(self, type: _Optional[_Union[NextAction.Type, str]] = ..., url: _Optional[str] = ..., qr_code: _Optional[str] = ...) -> None: ...

class AuthorizationResult(_message.Message):
    __slots__ = ("attempt_reference", "outcome", "amount", "acquirer_reference", "decline_code", "acquirer_code", "authorization_code", "message", "next_action")
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_APPROVED: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_DECLINED: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_REQUIRES_ACTION: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_PENDING: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_PROCESSING_ERROR: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_RISK_BLOCKED: _ClassVar[AuthorizationResult.Outcome]
        OUTCOME_CANCELED: _ClassVar[AuthorizationResult.Outcome]
    OUTCOME_UNSPECIFIED: AuthorizationResult.Outcome
    OUTCOME_APPROVED: AuthorizationResult.Outcome
    OUTCOME_DECLINED: AuthorizationResult.Outcome
    OUTCOME_REQUIRES_ACTION: AuthorizationResult.Outcome
    OUTCOME_PENDING: AuthorizationResult.Outcome
    OUTCOME_PROCESSING_ERROR: AuthorizationResult.Outcome
    OUTCOME_RISK_BLOCKED: AuthorizationResult.Outcome
    OUTCOME_CANCELED: AuthorizationResult.Outcome
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DECLINE_CODE_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_CODE_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    NEXT_ACTION_FIELD_NUMBER: _ClassVar[int]
    attempt_reference: str
    outcome: AuthorizationResult.Outcome
    amount: Money
    acquirer_reference: str
    decline_code: str
    acquirer_code: str
    authorization_code: str
    message: str
    next_action: NextAction
    def __init__(self, attempt_reference: _Optional[str] = ..., outcome: _Optional[_Union[AuthorizationResult.Outcome, str]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., acquirer_reference: _Optional[str] = ..., decline_code: _Optional[str] = ..., acquirer_code: _Optional[str] = ..., authorization_code: _Optional[str] = ..., message: _Optional[str] = ..., next_action: _Optional[_Union[NextAction, _Mapping]] = ...) -> None: ...

class OperationResult(_message.Message):
    __slots__ = ("kind", "attempt_reference", "reference", "status", "amount", "acquirer_reference", "failure_code", "acquirer_code")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[OperationResult.Kind]
        KIND_CAPTURE: _ClassVar[OperationResult.Kind]
        KIND_VOID: _ClassVar[OperationResult.Kind]
        KIND_REFUND: _ClassVar[OperationResult.Kind]
    KIND_UNSPECIFIED: OperationResult.Kind
    KIND_CAPTURE: OperationResult.Kind
    KIND_VOID: OperationResult.Kind
    KIND_REFUND: OperationResult.Kind
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[OperationResult.Status]
        STATUS_SUCCEEDED: _ClassVar[OperationResult.Status]
        STATUS_PENDING: _ClassVar[OperationResult.Status]
        STATUS_FAILED: _ClassVar[OperationResult.Status]
    STATUS_UNSPECIFIED: OperationResult.Status
    STATUS_SUCCEEDED: OperationResult.Status
    STATUS_PENDING: OperationResult.Status
    STATUS_FAILED: OperationResult.Status
    KIND_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    FAILURE_CODE_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_CODE_FIELD_NUMBER: _ClassVar[int]
    kind: OperationResult.Kind
    attempt_reference: str
    reference: str
    status: OperationResult.Status
    amount: Money
    acquirer_reference: str
    failure_code: str
    acquirer_code: str
    def __init__(self, kind: _Optional[_Union[OperationResult.Kind, str]] = ..., attempt_reference: _Optional[str] = ..., reference: _Optional[str] = ..., status: _Optional[_Union[OperationResult.Status, str]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., acquirer_reference: _Optional[str] = ..., failure_code: _Optional[str] = ..., acquirer_code: _Optional[str] = ...) -> None: ...

class DisputesSinceRequest(_message.Message):
    __slots__ = ("acquirer", "sequence")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    sequence: int
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., sequence: _Optional[int] = ...) -> None: ...

class Dispute(_message.Message):
    __slots__ = ("sequence", "dispute_reference", "attempt_reference", "capture_reference", "merchant_id", "amount", "reason", "opened_at")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DISPUTE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    dispute_reference: str
    attempt_reference: str
    capture_reference: str
    merchant_id: str
    amount: Money
    reason: str
    opened_at: _timestamp_pb2.Timestamp
    def __init__(self, sequence: _Optional[int] = ..., dispute_reference: _Optional[str] = ..., attempt_reference: _Optional[str] = ..., capture_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., reason: _Optional[str] = ..., opened_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DisputesSinceResponse(_message.Message):
    __slots__ = ("disputes",)
    DISPUTES_FIELD_NUMBER: _ClassVar[int]
    disputes: _containers.RepeatedCompositeFieldContainer[Dispute]
    def __init__(self, disputes: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ...) -> None: ...

class SettlementRecordsRequest(_message.Message):
    __slots__ = ("acquirer", "day")
    ACQUIRER_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    acquirer: Acquirer
    day: str
    def __init__(self, acquirer: _Optional[_Union[Acquirer, str]] = ..., day: _Optional[str] = ...) -> None: ...

class SettlementRecord(_message.Message):
    __slots__ = ("reference", "kind", "amount", "booked_at", "attempt_reference", "merchant_id", "acquirer_reference")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[SettlementRecord.Kind]
        KIND_CAPTURE: _ClassVar[SettlementRecord.Kind]
        KIND_REFUND: _ClassVar[SettlementRecord.Kind]
    KIND_UNSPECIFIED: SettlementRecord.Kind
    KIND_CAPTURE: SettlementRecord.Kind
    KIND_REFUND: SettlementRecord.Kind
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    BOOKED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    ACQUIRER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    kind: SettlementRecord.Kind
    amount: Money
    booked_at: _timestamp_pb2.Timestamp
    attempt_reference: str
    merchant_id: str
    acquirer_reference: str
    def __init__(self, reference: _Optional[str] = ..., kind: _Optional[_Union[SettlementRecord.Kind, str]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., booked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt_reference: _Optional[str] = ..., merchant_id: _Optional[str] = ..., acquirer_reference: _Optional[str] = ...) -> None: ...

class SettlementRecordsResponse(_message.Message):
    __slots__ = ("records",)
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[SettlementRecord]
    def __init__(self, records: _Optional[_Iterable[_Union[SettlementRecord, _Mapping]]] = ...) -> None: ...
