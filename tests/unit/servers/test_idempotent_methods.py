"""Which methods honour Idempotency-Key: the proto says so, and the marks must make sense."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from paygate.v1 import options_pb2

from servers.grpc.idempotency import (
    KEY_HANDLING,
    KeyHandling,
    idempotent_methods,
    key_handling,
    without_redacted_fields,
)
from servers.roles.api import SERVICES
from tests.unit.test_generated_code import public_services


def test_the_served_mutating_methods_are_idempotent() -> None:
    assert idempotent_methods(s.descriptor for s in SERVICES) >= {
        "/paygate.v1.PaymentIntentService/CreatePaymentIntent",
        "/paygate.v1.ApiKeyService/CreateApiKey",
        "/paygate.v1.ApiKeyService/RevokeApiKey",
    }


def test_every_authenticated_post_rpc_is_idempotent() -> None:
    """REST mutations are POSTs (API.md): each must honour Idempotency-Key (DESIGN.md).

    A new RPC fails here until its (paygate.v1.access) option says `idempotent: true`.
    Unauthenticated ones (signup, login) cannot: keys are scoped to the caller's merchant.
    """
    missing = []
    for service in public_services():
        for method in service.methods:
            options = method.GetOptions()
            access = options.Extensions[options_pb2.access]
            rule = options.Extensions[annotations_pb2.http]
            if rule.post and not access.unauthenticated and not access.idempotent:
                missing.append(method.full_name)
    assert not missing, f"add `idempotent: true` to (paygate.v1.access) of {missing}"
    # And every public service passes the interceptor's own checks.
    idempotent_methods(public_services())


def fake_service(**method: Any) -> Any:
    options = descriptor_pb2.MethodOptions()
    access = options.Extensions[options_pb2.access]
    access.idempotent = True
    access.unauthenticated = method.pop("unauthenticated", False)
    fields = {"name": "Do", "full_name": "test.S.Do", "client_streaming": False}
    fields |= {"server_streaming": False, **method}
    rpc = SimpleNamespace(GetOptions=lambda: options, **fields)
    return SimpleNamespace(full_name="test.S", methods=[rpc])


def test_a_unary_authenticated_method_can_be_marked() -> None:
    assert idempotent_methods([fake_service()]) == {"/test.S/Do"}


@pytest.mark.parametrize(
    ("method", "problem"),
    [
        ({"server_streaming": True}, "only unary"),
        ({"client_streaming": True}, "only unary"),
        ({"unauthenticated": True}, "unauthenticated"),
    ],
)
def test_marks_that_cannot_work_stop_the_server_from_starting(
    method: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        idempotent_methods([fake_service(**method)])


def test_redacted_fields_are_cleared_at_any_depth() -> None:
    from paygate.v1 import api_keys_pb2

    key = api_keys_pb2.ApiKey(id="key_1", secret="sk_test_x", last4="abcd")
    kept = without_redacted_fields(key)
    assert kept == api_keys_pb2.ApiKey(id="key_1", last4="abcd")
    assert key.secret == "sk_test_x"  # the response itself is untouched
    assert without_redacted_fields(api_keys_pb2.ApiKey(id="key_1")) is None

    page = api_keys_pb2.ListApiKeysResponse(data=[key, api_keys_pb2.ApiKey(id="key_2")])
    cleared = without_redacted_fields(page)
    assert cleared is not None
    assert [k.secret for k in cleared.data] == ["", ""]
    assert [k.id for k in cleared.data] == ["key_1", "key_2"]


def test_which_answers_can_hold_a_redacted_field_is_decided_per_type() -> None:
    from google.protobuf import struct_pb2
    from paygate.v1 import api_keys_pb2, payment_intents_pb2

    from servers.grpc.idempotency import _may_redact

    assert _may_redact(api_keys_pb2.ApiKey.DESCRIPTOR)
    assert _may_redact(api_keys_pb2.ListApiKeysResponse.DESCRIPTOR)  # through `data`
    assert not _may_redact(payment_intents_pb2.PaymentIntent.DESCRIPTOR)
    assert not _may_redact(struct_pb2.Struct.DESCRIPTOR)  # a recursive type ends
    # A type that cannot hold one is stored whole, without a walk of its fields.
    intent = payment_intents_pb2.PaymentIntent(id="pi_1", client_secret="pi_1_secret_x")
    assert without_redacted_fields(intent) is None


def test_every_declared_key_handling_is_of_a_method_marked_idempotent() -> None:
    marked = idempotent_methods(public_services())
    assert set(KEY_HANDLING) <= marked
    assert key_handling("/paygate.v1.ApiKeyService/CreateApiKey") is KeyHandling.CLAIMED_FIRST
    assert {m for m, h in KEY_HANDLING.items() if h is KeyHandling.RECORDED_AFTER} == {
        "/paygate.v1.TokenService/CreateToken"
    }
