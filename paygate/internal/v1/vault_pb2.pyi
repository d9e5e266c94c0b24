from paygate.v1 import payment_methods_pb2 as _payment_methods_pb2
from paygate.v1 import tokens_pb2 as _tokens_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Caller(_message.Message):
    __slots__ = ("merchant_id", "livemode", "actor")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    LIVEMODE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    livemode: bool
    actor: str
    def __init__(self, merchant_id: _Optional[str] = ..., livemode: _Optional[bool] = ..., actor: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    request: _tokens_pb2.CreateTokenRequest
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., request: _Optional[_Union[_tokens_pb2.CreateTokenRequest, _Mapping]] = ...) -> None: ...

class CreatePaymentMethodRequest(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    request: _payment_methods_pb2.CreatePaymentMethodRequest
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., request: _Optional[_Union[_payment_methods_pb2.CreatePaymentMethodRequest, _Mapping]] = ...) -> None: ...

class GetPaymentMethodRequest(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    request: _payment_methods_pb2.GetPaymentMethodRequest
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., request: _Optional[_Union[_payment_methods_pb2.GetPaymentMethodRequest, _Mapping]] = ...) -> None: ...

class ListPaymentMethodsRequest(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    request: _payment_methods_pb2.ListPaymentMethodsRequest
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., request: _Optional[_Union[_payment_methods_pb2.ListPaymentMethodsRequest, _Mapping]] = ...) -> None: ...

class RevokePaymentMethodRequest(_message.Message):
    __slots__ = ("caller", "request")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    request: _payment_methods_pb2.RevokePaymentMethodRequest
    def __init__(self, caller: _Optional[_Union[Caller, _Mapping]] = ..., request: _Optional[_Union[_payment_methods_pb2.RevokePaymentMethodRequest, _Mapping]] = ...) -> None: ...

class DetokenizeForPaymentRequest(_message.Message):
    __slots__ = ("merchant_id", "payment_method", "purpose", "livemode")
    MERCHANT_ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_METHOD_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    LIVEMODE_FIELD_NUMBER: _ClassVar[int]
    merchant_id: str
    payment_method: str
    purpose: str
    livemode: bool
    def __init__(self, merchant_id: _Optional[str] = ..., payment_method: _Optional[str] = ..., purpose: _Optional[str] = ..., livemode: _Optional[bool] = ...) -> None: ...

class DetokenizeForPaymentResponse(_message.Message):
    __slots__ = ("number", "exp_month", "exp_year", "cvc", "holder_name", "card")
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    EXP_MONTH_FIELD_NUMBER: _ClassVar[int]
    EXP_YEAR_FIELD_NUMBER: _ClassVar[int]
    CVC_FIELD_NUMBER: _ClassVar[int]
    HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    number: str
    exp_month: int
    exp_year: int
    cvc: str
    holder_name: str
    card: _tokens_pb2.Card
    def __init__(self, number: _Optional[str] = ..., exp_month: _Optional[int] = ..., exp_year: _Optional[int] = ..., cvc: _Optional[str] = ..., holder_name: _Optional[str] = ..., card: _Optional[_Union[_tokens_pb2.Card, _Mapping]] = ...) -> None: ...
