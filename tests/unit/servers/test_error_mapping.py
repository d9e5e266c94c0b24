from __future__ import annotations

import grpc
import pytest

from core.shared import errors
from servers.grpc.errors import STATUS_CODES, code_of, to_status


def all_error_classes() -> list[type[errors.PaygateError]]:
    found, todo = [], [errors.PaygateError]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls is not errors.PaygateError:
            found.append(cls)
    return found


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_core_error_has_a_status_code(cls: type[errors.PaygateError]) -> None:
    assert any(base in STATUS_CODES for base in cls.__mro__), f"{cls.__name__} is unmapped"


def test_invalid_argument_carries_error_info_and_field_violations() -> None:
    error = errors.InvalidArgument.field("amount", "must be positive")
    status = to_status(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert len(status.details) == 2
    assert code_of(error) is grpc.StatusCode.INVALID_ARGUMENT
