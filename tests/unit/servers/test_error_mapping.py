from __future__ import annotations

import grpc

from core.shared import errors
from servers.grpc.errors import code_of, to_status

# Every error class of core has a status: tests/unit/test_error_catalogue.py.


def test_invalid_argument_carries_error_info_and_field_violations() -> None:
    error = errors.InvalidArgument.field("amount", "must be positive")
    status = to_status(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert len(status.details) == 2
    assert code_of(error) is grpc.StatusCode.INVALID_ARGUMENT
