import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from paygate.v1 import options_pb2 as _options_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PaymentIntent(_message.Message):
    __slots__ = ("id", "amount", "currency", "status", "capture_method", "amount_capturable", "amount_received", "amount_refunded", "client_secret", "payment_method", "last_payment_error", "next_action", "attempts", "livemode", "metadata", "created", "canceled_at", "cancellation_reason", "description", "receipt_email", "return_url", "payment_method_types", "latest_attempt", "success_url", "cancel_url", "checkout_url")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[PaymentIntent.Status]
        REQUIRES_PAYMENT_METHOD: _ClassVar[PaymentIntent.Status]
        REQUIRES_CONFIRMATION: _ClassVar[PaymentIntent.Status]
        REQUIRES_ACTION: _ClassVar[PaymentIntent.Status]
        PROCESSING: _ClassVar[PaymentIntent.Status]
        REQUIRES_CAPTURE: _ClassVar[PaymentIntent.Status]
        SUCCEEDED: _ClassVar[PaymentIntent.Status]
        CANCELED: _ClassVar[PaymentIntent.Status]
    STATUS_UNSPECIFIED: PaymentIntent.Status
    REQUIRES_PAYMENT_METHOD: PaymentIntent.Status
    REQUIRES_CONFIRMATION: PaymentIntent.Status
    REQUIRES_ACTION: PaymentIntent.Status
    PROCESSING: PaymentIntent.Status
    REQUIRES_CAPTURE: PaymentIntent.Status
    SUCCEEDED: PaymentIntent.Status
    CANCELED: PaymentIntent.Status
    class CaptureMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CAPTURE_METHOD_UNSPECIFIED: _ClassVar[PaymentIntent.CaptureMethod]
        AUTOMATIC: _ClassVar[PaymentIntent.CaptureMethod]
        MANUAL: _ClassVar[PaymentIntent.CaptureMethod]
    CAPTURE_METHOD_UNSPECIFIED: PaymentIntent.CaptureMethod
    AUTOMATIC: PaymentIntent.CaptureMethod
    MANUAL: PaymentIntent.CaptureMethod
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_METHOD_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_CAPTURABLE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_REFUNDED_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    LAST_PAYMENT_ERROR_FIELD_NUMBER: _ClassVar[int]
    NEXT_ACTION_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    LIVEMODE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CANCELED_AT_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_REASON_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_TYPES_FIELD_NUMBER: _ClassVar[int]
    LATEST_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_URL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_URL_FIELD_NUMBER: _ClassVar[int]
    CHECKOUT_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: int
    currency: str
    status: PaymentIntent.Status
    capture_method: PaymentIntent.CaptureMethod
    amount_capturable: int
    amount_received: int
    amount_refunded: int
    client_secret: str
    payment_method: str
    last_payment_error: PaymentError
    next_action: NextAction
    attempts: int
    livemode: bool
    metadata: _containers.ScalarMap[str, str]
    created: _timestamp_pb2.Timestamp
    canceled_at: _timestamp_pb2.Timestamp
    cancellation_reason: str
    description: str
    receipt_email: str
    return_url: str
    payment_method_types: _containers.RepeatedScalarFieldContainer[str]
    latest_attempt: str
    success_url: str
    cancel_url: str
    checkout_url: str
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[PaymentIntent.Status, str]] = ..., capture_method: _Optional[_Union[PaymentIntent.CaptureMethod, str]] = ..., amount_capturable: _Optional[int] = ..., amount_received: _Optional[int] = ..., amount_refunded: _Optional[int] = ..., client_secret: _Optional[str] = ..., payment_method: _Optional[str] = ..., last_payment_error: _Optional[_Union[PaymentError, _Mapping]] = ..., next_action: _Optional[_Union[NextAction, _Mapping]] = ..., attempts: _Optional[int] = ..., livemode: _Optional[bool] = ..., metadata: _Optional[_Mapping[str, str]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., canceled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancellation_reason: _Optional[str] = ..., description: _Optional[str] = ..., receipt_email: _Optional[str] = ..., return_url: _Optional[str] = ..., payment_method_types: _Optional[_Iterable[str]] = ..., latest_attempt: _Optional[str] = ..., success_url: _Optional[str] = ..., cancel_url: _Optional[str] = ..., checkout_url: _Optional[str] = ...) -> None: ...

class PaymentError(_message.Message):
    __slots__ = ("code", "decline_code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    DECLINE_CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    decline_code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., decline_code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class NextAction(_message.Message):
    __slots__ = ("type", "url", "qr_code")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[NextAction.Type]
        REDIRECT_TO_URL: _ClassVar[NextAction.Type]
        UPI_COLLECT: _ClassVar[NextAction.Type]
    TYPE_UNSPECIFIED: NextAction.Type
    REDIRECT_TO_URL: NextAction.Type
    UPI_COLLECT: NextAction.Type
    TYPE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    QR_CODE_FIELD_NUMBER: _ClassVar[int]
    type: NextAction.Type
    url: str
    qr_code: str
    def __init__(self, type: _Optional[_Union[NextAction.Type, str]] = ..., url: _Optional[str] = ..., qr_code: _Optional[str] = ...) -> None: ...

class CreatePaymentIntentRequest(_message.Message):
    __slots__ = ("amount", "currency", "capture_method", "payment_method_types", "description", "metadata", "receipt_email", "return_url", "success_url", "cancel_url")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_METHOD_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_TYPES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_URL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_URL_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency: str
    capture_method: PaymentIntent.CaptureMethod
    payment_method_types: _containers.RepeatedScalarFieldContainer[str]
    description: str
    metadata: _containers.ScalarMap[str, str]
    receipt_email: str
    return_url: str
    success_url: str
    cancel_url: str
    def __init__(self, amount: _Optional[int] = ..., currency: _Optional[str] = ..., capture_method: _Optional[_Union[PaymentIntent.CaptureMethod, str]] = ..., payment_method_types: _Optional[_Iterable[str]] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., receipt_email: _Optional[str] = ..., return_url: _Optional[str] = ..., success_url: _Optional[str] = ..., cancel_url: _Optional[str] = ...) -> None: ...

class GetPaymentIntentRequest(_message.Message):
    __slots__ = ("id", "client_secret")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    id: str
    client_secret: str
    def __init__(self, id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class ListPaymentIntentsRequest(_message.Message):
    __slots__ = ("status", "limit", "starting_after")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTING_AFTER_FIELD_NUMBER: _ClassVar[int]
    status: PaymentIntent.Status
    limit: int
    starting_after: str
    def __init__(self, status: _Optional[_Union[PaymentIntent.Status, str]] = ..., limit: _Optional[int] = ..., starting_after: _Optional[str] = ...) -> None: ...

class ListPaymentIntentsResponse(_message.Message):
    __slots__ = ("data", "has_more")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[PaymentIntent]
    has_more: bool
    def __init__(self, data: _Optional[_Iterable[_Union[PaymentIntent, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...

class ConfirmPaymentIntentRequest(_message.Message):
    __slots__ = ("id", "payment_method", "upi", "client_secret", "return_url")
    class Upi(_message.Message):
        __slots__ = ("vpa",)
        VPA_FIELD_NUMBER: _ClassVar[int]
        vpa: str
        def __init__(self, vpa: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    UPI_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    payment_method: str
    upi: ConfirmPaymentIntentRequest.Upi
    client_secret: str
    return_url: str
    def __init__(self, id: _Optional[str] = ..., payment_method: _Optional[str] = ..., upi: _Optional[_Union[ConfirmPaymentIntentRequest.Upi, _Mapping]] = ..., client_secret: _Optional[str] = ..., return_url: _Optional[str] = ...) -> None: ...

class CapturePaymentIntentRequest(_message.Message):
    __slots__ = ("id", "amount_to_capture")
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_TO_CAPTURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount_to_capture: int
    def __init__(self, id: _Optional[str] = ..., amount_to_capture: _Optional[int] = ...) -> None: ...

class CancelPaymentIntentRequest(_message.Message):
    __slots__ = ("id", "cancellation_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    cancellation_reason: str
    def __init__(self, id: _Optional[str] = ..., cancellation_reason: _Optional[str] = ...) -> None: ...

class WatchPaymentIntentRequest(_message.Message):
    __slots__ = ("id", "client_secret")
    ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    id: str
    client_secret: str
    def __init__(self, id: _Optional[str] = ..., client_secret: _Optional[str] = ...) -> None: ...

class WatchPaymentIntentResponse(_message.Message):
    __slots__ = ("payment_intent", "final", "reason")
    class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        END_REASON_UNSPECIFIED: _ClassVar[WatchPaymentIntentResponse.EndReason]
        TERMINAL_STATUS: _ClassVar[WatchPaymentIntentResponse.EndReason]
        MAX_DURATION: _ClassVar[WatchPaymentIntentResponse.EndReason]
        INTERRUPTED: _ClassVar[WatchPaymentIntentResponse.EndReason]
    END_REASON_UNSPECIFIED: WatchPaymentIntentResponse.EndReason
    TERMINAL_STATUS: WatchPaymentIntentResponse.EndReason
    MAX_DURATION: WatchPaymentIntentResponse.EndReason
    INTERRUPTED: WatchPaymentIntentResponse.EndReason
    PAYMENT_INTENT_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    payment_intent: PaymentIntent
    final: bool
    reason: WatchPaymentIntentResponse.EndReason
    def __init__(self, payment_intent: _Optional[_Union[PaymentIntent, _Mapping]] = ..., final: _Optional[bool] = ..., reason: _Optional[_Union[WatchPaymentIntentResponse.EndReason, str]] = ...) -> None: ...
