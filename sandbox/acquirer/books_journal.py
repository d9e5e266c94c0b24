"""The simulated acquirer's books on disk: a journal it appends to and reads back at start.

A real acquirer never forgets an authorization because a machine restarted, so neither
does the simulator: each change to an attempt's record (authorization, capture, refund,
void, a completed challenge or collect), each settled operation and each dispute is one
JSON line appended to `<directory>/<name>.jsonl`; at start the journal is read back and
the last line of each attempt wins. Objects travel as the acquirer role's own wire
messages (proto/paygate/internal/v1/acquirer.proto), so the journal has no format of its
own to keep in step: each is written in protobuf's binary encoding, base64 in a JSON
string (the C encoder: protobuf's JSON mapping, written by Python, was half the role's
Python time per payment, docs/performance.md), and a line written in the JSON mapping
(journals from before) is read back all the same.

No card number or CVC is ever written: a pending 3-D Secure challenge keeps the network's
answer for an authenticated retry instead of the card (card_network_simulator.py). The
key of the books' fingerprints is kept beside the journal (mode 0600), so a repeat of an
authorization after a restart is still recognized as the same request.

Each line goes to the operating system at once, in one write(2) on a descriptor opened
for appending (kept open from the first line to close()): a crash of the process loses
nothing; a power cut may lose the last lines, as the simulator promises no more than that.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from paygate.internal.v1 import acquirer_pb2 as pb

from adapters.acquirers import wire
from adapters.acquirers.settlement_file import SettlementRecord
from core.payments.acquirer import AcquirerDispute, AuthorizationResult, OperationResult

KEY_BYTES = 32


@dataclass
class AttemptState:
    """One attempt's record as the journal keeps it; `extra` is the simulator's own."""

    merchant_id: str
    fingerprint: str
    result: AuthorizationResult
    captures: list[OperationResult] = field(default_factory=list)
    refunds: list[OperationResult] = field(default_factory=list)
    void: OperationResult | None = None
    final_capture_done: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Books:
    """What a journal held when it was read: the state to start from."""

    attempts: dict[str, AttemptState] = field(default_factory=dict)
    settlement: list[SettlementRecord] = field(default_factory=list)
    disputes: list[AcquirerDispute] = field(default_factory=list)


M = TypeVar("M", bound=Message)


def _encoded(message: Message) -> str:
    """A wire message as the journal writes it: its binary encoding, base64."""
    return base64.b64encode(message.SerializeToString()).decode("ascii")


def _decoded(value: str | dict[str, Any], message: M) -> M:
    """A message back from a line: base64 of its binary encoding, or (a line written
    before) its JSON mapping."""
    if isinstance(value, str):
        message.ParseFromString(base64.b64decode(value))
        return message
    return json_format.ParseDict(value, message)


def _attempt_line(reference: str, state: AttemptState) -> dict[str, Any]:
    return {
        "attempt": {
            "reference": reference,
            "merchant_id": state.merchant_id,
            "fingerprint": state.fingerprint,
            "result": _encoded(wire.authorization_result(state.result)),
            "captures": [_encoded(wire.operation_result(c)) for c in state.captures],
            "refunds": [_encoded(wire.operation_result(r)) for r in state.refunds],
            "void": None if state.void is None else _encoded(wire.operation_result(state.void)),
            "final_capture_done": state.final_capture_done,
            "extra": state.extra,
        }
    }


def _operation(value: str | dict[str, Any]) -> OperationResult:
    return wire.operation_result_from(_decoded(value, pb.OperationResult()))


def _attempt_from(line: dict[str, Any]) -> tuple[str, AttemptState]:
    void = line.get("void")
    result = _decoded(line["result"], pb.AuthorizationResult())
    return line["reference"], AttemptState(
        merchant_id=line["merchant_id"],
        fingerprint=line["fingerprint"],
        result=wire.authorization_result_from(result),
        captures=[_operation(c) for c in line.get("captures", [])],
        refunds=[_operation(r) for r in line.get("refunds", [])],
        void=None if void is None else _operation(void),
        final_capture_done=bool(line.get("final_capture_done", False)),
        extra=dict(line.get("extra", {})),
    )


class BooksJournal:
    """An append-only journal of one simulator's books under `directory`."""

    def __init__(self, directory: Path, name: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{name}.jsonl"
        self._key_path = directory / f"{name}.key"
        self._lock = threading.Lock()  # a line is written whole, whichever thread writes
        self._descriptor: int | None = None  # opened at the first line, O_APPEND
        self._closer: weakref.finalize[Any, BooksJournal] | None = None

    def fingerprint_key(self) -> bytes:
        """The books' fingerprint key, made once and kept beside the journal."""
        if self._key_path.exists():
            return bytes.fromhex(self._key_path.read_text().strip())
        key = secrets.token_bytes(KEY_BYTES)
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(key.hex())
        return key

    def read(self) -> Books:
        books = Books()
        for line in self._lines():
            if "attempt" in line:
                reference, state = _attempt_from(line["attempt"])
                books.attempts[reference] = state
            elif "settled" in line:
                record = _decoded(line["settled"], pb.SettlementRecord())
                books.settlement.append(wire.settlement_record_from(record))
            elif "dispute" in line:
                dispute = _decoded(line["dispute"], pb.Dispute())
                books.disputes.append(wire.dispute_from(dispute))
        return books

    def attempt(self, reference: str, state: AttemptState) -> None:
        self._append(_attempt_line(reference, state))

    def settled(self, record: SettlementRecord) -> None:
        self._append({"settled": _encoded(wire.settlement_record(record))})

    def dispute(self, dispute: AcquirerDispute) -> None:
        self._append({"dispute": _encoded(wire.dispute(dispute))})

    def close(self) -> None:
        """Closes the journal's descriptor; a later line opens it again."""
        with self._lock:
            if self._closer is not None:
                self._closer()
            self._descriptor = self._closer = None

    def _append(self, line: dict[str, Any]) -> None:
        data = (json.dumps(line, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            if self._descriptor is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
                self._descriptor = os.open(self.path, flags, 0o644)
                # Closed with the journal when nothing closed it first (tests drop theirs).
                self._closer = weakref.finalize(self, os.close, self._descriptor)
            written = 0
            while written < len(data):  # one write(2) for a line, unless the disk fills
                written += os.write(self._descriptor, data[written:])

    def _lines(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with self.path.open(encoding="utf-8") as journal:
            for text in journal:
                text = text.strip()
                if not text:
                    continue
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:
                    # A line cut short by a crash mid-write: everything before it stands.
                    continue
