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

class Dispute(_message.Message):
    __slots__ = ("id", "payment_intent", "amount", "currency", "reason", "status", "evidence", "evidence_due_by", "evidence_submitted_at", "created", "closed_at", "balance_transactions")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Dispute.Status]
        NEEDS_RESPONSE: _ClassVar[Dispute.Status]
        UNDER_REVIEW: _ClassVar[Dispute.Status]
        WON: _ClassVar[Dispute.Status]
        LOST: _ClassVar[Dispute.Status]
    STATUS_UNSPECIFIED: Dispute.Status
    NEEDS_RESPONSE: Dispute.Status
    UNDER_REVIEW: Dispute.Status
    WON: Dispute.Status
    LOST: Dispute.Status
    ID_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_INTENT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_DUE_BY_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_SUBMITTED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    payment_intent: str
    amount: int
    currency: str
    reason: str
    status: Dispute.Status
    evidence: DisputeEvidence
    evidence_due_by: _timestamp_pb2.Timestamp
    evidence_submitted_at: _timestamp_pb2.Timestamp
    created: _timestamp_pb2.Timestamp
    closed_at: _timestamp_pb2.Timestamp
    balance_transactions: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., payment_intent: _Optional[str] = ..., amount: _Optional[int] = ..., currency: _Optional[str] = ..., reason: _Optional[str] = ..., status: _Optional[_Union[Dispute.Status, str]] = ..., evidence: _Optional[_Union[DisputeEvidence, _Mapping]] = ..., evidence_due_by: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., evidence_submitted_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., closed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., balance_transactions: _Optional[_Iterable[str]] = ...) -> None: ...

class DisputeEvidence(_message.Message):
    __slots__ = ("product_description", "customer_communication", "receipt", "shipping_documentation", "uncategorized_text")
    PRODUCT_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_COMMUNICATION_FIELD_NUMBER: _ClassVar[int]
    RECEIPT_FIELD_NUMBER: _ClassVar[int]
    SHIPPING_DOCUMENTATION_FIELD_NUMBER: _ClassVar[int]
    UNCATEGORIZED_TEXT_FIELD_NUMBER: _ClassVar[int]
    product_description: str
    customer_communication: str
    receipt: str
    shipping_documentation: str
    uncategorized_text: str
    def __init__(self, product_description: _Optional[str] = ..., customer_communication: _Optional[str] = ..., receipt: _Optional[str] = ..., shipping_documentation: _Optional[str] = ..., uncategorized_text: _Optional[str] = ...) -> None: ...

class ListDisputesRequest(_message.Message):
    __slots__ = ("limit", "starting_after")
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    STARTING_AFTER_FIELD_NUMBER: _ClassVar[int]
    limit: int
    starting_after: str
    def __init__(self, limit: _Optional[int] = ..., starting_after: _Optional[str] = ...) -> None: ...

class ListDisputesResponse(_message.Message):
    __slots__ = ("data", "has_more")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    data: _containers.RepeatedCompositeFieldContainer[Dispute]
    has_more: bool
    def __init__(self, data: _Optional[_Iterable[_Union[Dispute, _Mapping]]] = ..., has_more: _Optional[bool] = ...) -> None: ...

class GetDisputeRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SubmitDisputeEvidenceRequest(_message.Message):
    __slots__ = ("id", "evidence")
    ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    evidence: DisputeEvidence
    def __init__(self, id: _Optional[str] = ..., evidence: _Optional[_Union[DisputeEvidence, _Mapping]] = ...) -> None: ...
