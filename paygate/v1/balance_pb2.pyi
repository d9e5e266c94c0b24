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

class Amount(_message.Message):
    __slots__ = ("amount", "currency")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency: str
    def __init__(self, amount: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Balance(_message.Message):
    __slots__ = ("available", "pending", "reserved")
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    RESERVED_FIELD_NUMBER: _ClassVar[int]
    available: _containers.RepeatedCompositeFieldContainer[Amount]
    pending: _containers.RepeatedCompositeFieldContainer[Amount]
    reserved: _containers.RepeatedCompositeFieldContainer[Amount]
    def __init__(self, available: _Optional[_Iterable[_Union[Amount, _Mapping]]] = ..., pending: _Optional[_Iterable[_Union[Amount, _Mapping]]] = ..., reserved: _Optional[_Iterable[_Union[Amount, _Mapping]]] = ...) -> None: ...

class BalanceTransaction(_message.Message):
    __slots__ = ("id", "type", "amount", "fee", "net", "currency", "source", "available_on", "created", "exchange_rate", "description")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[BalanceTransaction.Type]
        CHARGE: _ClassVar[BalanceTransaction.Type]
        REFUND: _ClassVar[BalanceTransaction.Type]
        FEE: _ClassVar[BalanceTransaction.Type]
        PAYOUT: _ClassVar[BalanceTransaction.Type]
        DISPUTE: _ClassVar[BalanceTransaction.Type]
        ADJUSTMENT: _ClassVar[BalanceTransaction.Type]
    TYPE_UNSPECIFIED: BalanceTransaction.Type
    CHARGE: BalanceTransaction.Type
    REFUND: BalanceTransaction.Type
    FEE: BalanceTransaction.Type
    PAYOUT: BalanceTransaction.Type
    DISPUTE: BalanceTransaction.Type
    ADJUSTMENT: BalanceTransaction.Type
    ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    FEE_FIELD_NUMBER: _ClassVar[int]
    NET_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_ON_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    EXCHANGE_RATE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    type: BalanceTransaction.Type
    amount: int
    fee: int
    net: int
    currency: str
    source: str
    available_on: _timestamp_pb2.Timestamp
    created: _timestamp_pb2.Timestamp
    exchange_rate: str
    description: str
    def __init__(self, id: _Optional[str] = ..., type: _Optional[_Union[BalanceTransaction.Type, str]] = ..., amount: _Optional[int] = ..., fee: _Optional[int] = ..., net: _Optional[int] = ..., currency: _Optional[str] = ..., source: _Optional[str] = ..., available_on: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., exchange_rate: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class ListBalanceTransactionsRequest(_message.Message):
    __slots__ = ("limit", "starting_after", "type", "source")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTING_AFTER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    limit: int
    starting_after: str
    type: BalanceTransaction.Type
    source: str
    def __init__(self, limit: _Optional[int] = ..., starting_after: _Optional[str] = ..., type: _Optional[_Union[BalanceTransaction.Type, str]] = ..., source: _Optional[str] = ...) -> None: ...

class ListBalanceTransactionsResponse(_message.Message):
    __slots__ = ("data", "has_more")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[BalanceTransaction]
    has_more: bool
    def __init__(self, data: _Optional[_Iterable[_Union[BalanceTransaction, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...
