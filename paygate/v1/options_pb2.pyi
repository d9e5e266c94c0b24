from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor
ACCESS_FIELD_NUMBER: _ClassVar[int]
access: _descriptor.FieldDescriptor

class Access(_message.Message):
    __slots__ = ("permission", "publishable", "unauthenticated", "idempotent", "user_only", "rate_limit_class")
    PERMISSION_FIELD_NUMBER: _ClassVar[int]
    PUBLISHABLE_FIELD_NUMBER: _ClassVar[int]
    UNAUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    USER_ONLY_FIELD_NUMBER: _ClassVar[int]
    RATE_LIMIT_CLASS_FIELD_NUMBER: _ClassVar[int]
    permission: str
    publishable: bool
    unauthenticated: bool
    idempotent: bool
    user_only: bool
    rate_limit_class: str
    def __init__(self, permission: _Optional[str] = ..., publishable: _Optional[bool] = ..., unauthenticated: _Optional[bool] = ..., idempotent: _Optional[bool] = ..., user_only: _Optional[bool] = ..., rate_limit_class: _Optional[str] = ...) -> None: ...
