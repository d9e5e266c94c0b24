"""Rich gRPC errors, read back: the google.rpc.Status a server attached to a failed call.

Servers here attach one ErrorInfo (reason, domain, metadata) and, for bad input, one
BadRequest (servers/grpc/errors.py); this is the one reading of them, for the gRPC
clients of the vault and acquirer roles and for the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


@dataclass(frozen=True)
class RichError:
    info: error_details_pb2.ErrorInfo | None = None
    violations: list[error_details_pb2.BadRequest.FieldViolation] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return self.info.reason if self.info is not None else ""

    @property
    def fields(self) -> list[str]:
        return [v.field for v in self.violations]


def read(error: grpc.aio.AioRpcError) -> RichError:
    """The ErrorInfo and BadRequest violations of a failed call; empty when it has none,
    or when its details contradict its status (trust neither)."""
    try:
        # An AioRpcError has the code() and trailing_metadata() that from_call reads; the
        # type stubs only know grpc.Call.
        status = rpc_status.from_call(error)  # type: ignore[arg-type]
    except ValueError:
        return RichError()
    info: error_details_pb2.ErrorInfo | None = None
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = list(bad.field_violations)
    return RichError(info, violations)
