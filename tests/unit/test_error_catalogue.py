"""The error table: every error class of core has a gRPC status, and docs/errors.md lists
every class and every stable reason the code writes.

The test imports every module of core itself (through scripts/errors_doc.py), so an error
class in a module that no other test happens to import cannot slip through unmapped.
"""

from __future__ import annotations

from types import ModuleType

from tests.unit.test_access_doc import load_script


def errors_doc() -> ModuleType:
    return load_script("errors_doc")


def test_every_error_class_of_core_has_a_status() -> None:
    script = errors_doc()
    classes = script.error_classes()
    names = {f"{c.__module__}.{c.__name__}" for c in classes}
    # The walk found the contexts' own errors, not only those of the shared kernel.
    assert {"core.vault.errors.TokenExpired", "core.payments.errors.PaymentFailed"} <= names
    assert [c.__name__ for c in classes if not script.status_of(c)] == []


def test_the_catalogue_is_current() -> None:
    script = errors_doc()
    current = script.DOC.read_text()
    assert script.render(current) == current, "docs/errors.md is stale: run `make gen`"


def test_the_catalogue_holds_the_reasons_clients_branch_on() -> None:
    reasons = errors_doc().reasons()
    for reason in ("CARD_DECLINED", "PARAMETER_MISSING", "IDEMPOTENCY_KEY_IN_USE",
                   "INVALID_SERVICE_CREDENTIAL", "RATE_LIMITED"):  # fmt: skip
        assert reason in reasons
