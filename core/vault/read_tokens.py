"""Token rows the vault read to describe a card, kept for the use that follows.

A confirm asks the vault to describe the card behind a `tok_` (Vault.describe_for_payment)
and, moments later, the cardholder-data zone asks for the card itself
(Vault.detokenize_for_payment), which uses the token up with a VERSIONED write: the
token's UPDATE names the version read and writes nothing when the row moved since. So
the row the description read can be the use's read: the use takes it from here instead
of reading it again, runs the same checks on it (this merchant's and mode's, ACTIVE, not
expired), and its write decides. A row that moved meanwhile (used by another caller,
expired by the sweep, re-encrypted by a rotation) matches nothing, and the use reads the
row again from the database, exactly as after a lost race today.

Bounds (docs/vault.md, "The token read once"):
- an entry is kept at most `hold` after its read, and never past the token's own expiry;
- at most `max_entries` entries (the oldest read goes first);
- `take` removes the entry whatever happens next, so nothing is kept once a use tried it;
- entries kept too long are dropped at the next `keep` and by a timer every `hold` while
  any are kept, so none stays in memory more than twice `hold` after its read;
- only `tok_` rows: a payment method's use writes no version, and its revocation must
  hold at once.

What an entry holds is the row as stored: the card summary and the card's CIPHERTEXT,
never the card in clear, in the vault's own memory (the process that hosts the vault:
an API process embedded, the vault role split).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

from core.shared.ports import Clock
from core.vault.model import Token, TokenStatus

HOLD = timedelta(seconds=30)
MAX_ENTRIES = 10_000


class ReadTokens:
    def __init__(
        self, clock: Clock, *, hold: timedelta = HOLD, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._clock = clock
        self._hold = hold
        self._max = max_entries
        # (merchant id, token id) -> (kept until, the row as read); in order of reading.
        self._kept: dict[tuple[str, str], tuple[datetime, Token]] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, token: Token) -> None:
        """Keeps a copy of `token` as just read (an ACTIVE row only)."""
        if self._max <= 0 or token.status is not TokenStatus.ACTIVE:
            return
        now = self._clock.now()
        until = min(now + self._hold, token.expires_at)
        key = (token.merchant_id, token.id)
        self._kept.pop(key, None)  # a fresher read replaces the older one, at the end
        self.prune(now)
        while len(self._kept) >= self._max:
            del self._kept[next(iter(self._kept))]
        if until > now:
            self._kept[key] = (until, replace(token))
            self._schedule()

    def take(self, merchant_id: str, token_id: str) -> Token | None:
        """The row kept for that token of that merchant, removed; None when there is none
        or it was kept too long."""
        kept = self._kept.pop((merchant_id, token_id), None)
        if kept is None or kept[0] <= self._clock.now():
            return None
        return kept[1]

    def forget(self, merchant_id: str, token_id: str) -> None:
        self._kept.pop((merchant_id, token_id), None)

    def prune(self, now: datetime | None = None) -> None:
        """Drops the entries kept too long (from the oldest read on)."""
        now = now or self._clock.now()
        while self._kept:
            key = next(iter(self._kept))
            if self._kept[key][0] > now:
                # Entries are in order of reading; one kept until its token's earlier
                # expiry may sit behind this one, and `take` refuses it all the same.
                break
            del self._kept[key]

    def _schedule(self) -> None:
        if self._timer is not None or not self._kept:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # kept outside a loop (a test): pruned at the next keep
            return
        self._timer = loop.call_later(self._hold.total_seconds(), self._pruned_by_timer)

    def _pruned_by_timer(self) -> None:
        self._timer = None
        self.prune()
        self._schedule()
