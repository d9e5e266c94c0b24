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

class Payout(_message.Message):
    __slots__ = ("id", "amount", "currency", "status", "method", "arrival_date", "created", "balance_transaction", "settlement", "description")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Payout.Status]
        IN_TRANSIT: _ClassVar[Payout.Status]
        PAID: _ClassVar[Payout.Status]
        FAILED: _ClassVar[Payout.Status]
    STATUS_UNSPECIFIED: Payout.Status
    IN_TRANSIT: Payout.Status
    PAID: Payout.Status
    FAILED: Payout.Status
    class Method(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        METHOD_UNSPECIFIED: _ClassVar[Payout.Method]
        MANUAL: _ClassVar[Payout.Method]
        AUTOMATIC: _ClassVar[Payout.Method]
    METHOD_UNSPECIFIED: Payout.Method
    MANUAL: Payout.Method
    AUTOMATIC: Payout.Method
    ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_DATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    BALANCE_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    amount: int
    currency: str
    status: Payout.Status
    method: Payout.Method
    arrival_date: _timestamp_pb2.Timestamp
    created: _timestamp_pb2.Timestamp
    balance_transaction: str
    settlement: str
    description: str
    def __init__(self, id: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[Payout.Status, str]] = ..., method: _Optional[_Union[Payout.Method, str]] = ..., arrival_date: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balance_transaction: _Optional[str] = ..., settlement: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class CreatePayoutRequest(_message.Message):
    __slots__ = ("amount", "currency", "description")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    amount: int
    currency: str
    description: str
    def __init__(self, amount: _Optional[int] = ..., currency: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class GetPayoutRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListPayoutsRequest(_message.Message):
    __slots__ = ("limit", "starting_after", "status")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTING_AFTER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    limit: int
    starting_after: str
    status: Payout.Status
    def __init__(self, limit: _Optional[int] = ..., starting_after: _Optional[str] = ..., status: _Optional[_Union[Payout.Status, str]] = ...) -> None: ...

class ListPayoutsResponse(_message.Message):
    __slots__ = ("data", "has_more")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Payout]
    has_more: bool
    def __init__(self, data: _Optional[_Iterable[_Union[Payout, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...
