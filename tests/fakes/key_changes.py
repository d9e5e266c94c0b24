"""KeyChanges in one process: the in-memory unit of work tells each feed of its store the
lookups of the keys a commit changed, as the api_keys trigger's NOTIFY does in SQL
(0019_api_key_changes). The same contract tests run against both
(tests/contract/test_key_changes_contract.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace

from core.access.model import ApiKey


class MemoryKeyChanges:
    """One process's feed. `lose()` and `listen()` play the PostgreSQL feed losing its
    connection and listening again; a lost feed tells nothing."""

    def __init__(self) -> None:
        self._followers: list[tuple[Callable[[str], None], Callable[[], None]]] = []
        self.listening = True

    def follow(self, changed: Callable[[str], None], missed: Callable[[], None]) -> None:
        self._followers.append((changed, missed))

    def publish(self, lookups: Iterable[str]) -> None:
        if not self.listening:
            return
        for lookup in lookups:
            for changed, _ in self._followers:
                changed(lookup)

    def lose(self) -> None:
        self.listening = False
        self._missed()

    def listen(self) -> None:
        self.listening = True
        self._missed()

    def _missed(self) -> None:
        for _, missed in self._followers:
            missed()


def changed_lookups(before: Mapping[str, ApiKey], after: Mapping[str, ApiKey]) -> list[str]:
    """The lookups of the keys changed or deleted between two versions of the table,
    usage counts aside (what the trigger's WHEN clause lets through); new keys are not
    changes (no process can have cached them)."""
    return list(
        dict.fromkeys(
            key.lookup
            for key_id, key in before.items()
            if key_id not in after or _auth_view(key) != _auth_view(after[key_id])
        )
    )


def _auth_view(key: ApiKey) -> ApiKey:
    return replace(key, usage_count=0, last_used_at=None)
