"""The chart of accounts: who owns an account, what it holds, and its normal balance.

An account is (kind, currency, merchant, mode): a merchant has one account of each merchant
kind per currency it holds money in and per mode (test or live), the platform one of each
platform kind per currency and mode. Test money and live money are two books that never
share an account, so no entry can move money from one to the other. Accounts are never
created or stored on their own: one exists as soon as a posting names it, and its balance
is the sum of its postings.

Sign convention: a posting's amount is positive for a debit and negative for a credit, so
the postings of an entry sum to zero per currency. `Account.normal_balance` turns that raw
sum into the figure a human reads: debit-normal accounts (assets: what others owe the
platform) read as the raw sum, credit-normal ones (liabilities to merchants and cardholders,
revenue) as its negation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.shared.money import CURRENCY_EXPONENTS

__all__ = [
    "BALANCE_KINDS",
    "LIVE_PREFIX",
    "MERCHANT_KINDS",
    "NON_NEGATIVE_KINDS",
    "PLATFORM_KINDS",
    "PRESENTMENT_KINDS",
    "Account",
    "AccountKind",
    "Side",
]


class Side(StrEnum):
    DEBIT = "DEBIT"
    CREDIT = "CREDIT"


class AccountKind(StrEnum):
    # Per merchant and currency: the merchant's settlement currency, except REFUNDS and
    # DISPUTES, which hold what is owed to or claimed by the cardholder's side in the
    # charge (presentment) currency.
    PENDING = "pending"  # net proceeds of captures, not yet available (T+2)
    AVAILABLE = "available"  # may be paid out; never below zero
    RESERVE = "reserve"  # held back from available by risk; released later
    FEES = "fees"  # fees charged to this merchant: a per-merchant revenue sub-ledger
    REFUNDS = "refunds"  # refunds on their way to cardholders (presentment currency)
    DISPUTES = "disputes"  # funds withdrawn while a dispute is open (presentment currency)
    RECEIVABLE = "receivable"  # what the merchant owes when a forced debit outran its funds
    # Platform, per currency.
    ACQUIRER_CLEARING = "acquirer_clearing"  # what acquirers owe the platform
    FEE_REVENUE = "fee_revenue"  # fees swept from the merchants' FEES accounts
    FX = "fx"  # the currency conversion book: one leg per currency of each conversion
    PAYOUTS_IN_TRANSIT = "payouts_in_transit"  # sent to merchants' banks, not yet confirmed
    ADJUSTMENTS = "adjustments"  # operator corrections and goodwill credits


K = AccountKind
MERCHANT_KINDS = frozenset({K.PENDING, K.AVAILABLE, K.RESERVE, K.FEES, K.REFUNDS, K.DISPUTES,
                            K.RECEIVABLE})  # fmt: skip
PLATFORM_KINDS = frozenset(K) - MERCHANT_KINDS

_NORMAL_SIDE: dict[AccountKind, Side] = {
    K.PENDING: Side.CREDIT,
    K.AVAILABLE: Side.CREDIT,
    K.RESERVE: Side.CREDIT,
    K.FEES: Side.CREDIT,
    K.REFUNDS: Side.CREDIT,
    K.DISPUTES: Side.CREDIT,
    K.RECEIVABLE: Side.DEBIT,
    K.ACQUIRER_CLEARING: Side.DEBIT,
    K.FEE_REVENUE: Side.CREDIT,
    K.FX: Side.DEBIT,
    K.PAYOUTS_IN_TRANSIT: Side.CREDIT,
    K.ADJUSTMENTS: Side.DEBIT,
}

# The merchant's balance as the API shows it: available + pending - receivable. A balance
# transaction's `net` is the change an entry makes to exactly these accounts.
BALANCE_KINDS = frozenset({K.PENDING, K.AVAILABLE, K.RECEIVABLE})

# Accounts whose normal balance must never go below zero. Debits against them are planned
# from a balance read under the merchant's debit lock (see ports.LedgerRepository).
# Merchant accounts kept in the charge currency rather than the settlement currency.
PRESENTMENT_KINDS = frozenset({K.REFUNDS, K.DISPUTES})

# Live accounts' codes start with it; test accounts' do not (see Account.code).
LIVE_PREFIX = "live:"

NON_NEGATIVE_KINDS = frozenset({K.PENDING, K.AVAILABLE, K.RESERVE, K.REFUNDS, K.DISPUTES,
                                K.RECEIVABLE})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Account:
    kind: AccountKind
    currency: str
    merchant_id: str = ""  # empty for platform accounts
    # The book the account is in: live money or test money (docs/ledger.md, "Test mode
    # and live mode"). Test accounts keep the codes every account had before modes.
    livemode: bool = False

    def __post_init__(self) -> None:
        if self.currency not in CURRENCY_EXPONENTS:
            raise ValueError(f"unknown currency {self.currency!r}")
        if self.kind in MERCHANT_KINDS and not self.merchant_id:
            raise ValueError(f"a {self.kind.value} account belongs to a merchant")
        if self.kind in PLATFORM_KINDS and self.merchant_id:
            raise ValueError(f"a {self.kind.value} account belongs to the platform")
        if ":" in self.merchant_id:
            raise ValueError("a merchant id cannot contain ':'")

    @classmethod
    def merchant(
        cls, merchant_id: str, kind: AccountKind, currency: str, livemode: bool = False
    ) -> Account:
        return cls(kind, currency, merchant_id, livemode)

    @classmethod
    def platform(cls, kind: AccountKind, currency: str, livemode: bool = False) -> Account:
        return cls(kind, currency, "", livemode)

    @property
    def code(self) -> str:
        """Stable text key: `merchant:acct_...:available:USD` or `platform:fx:JPY` in test
        mode, the same behind `live:` in live mode (`live:merchant:acct_...:available:USD`),
        so each mode of a merchant is its own prefix range of codes."""
        mode = LIVE_PREFIX if self.livemode else ""
        if self.merchant_id:
            return f"{mode}merchant:{self.merchant_id}:{self.kind.value}:{self.currency}"
        return f"{mode}platform:{self.kind.value}:{self.currency}"

    @classmethod
    def parse(cls, code: str) -> Account:
        livemode = code.startswith(LIVE_PREFIX)
        parts = code.removeprefix(LIVE_PREFIX).split(":")
        if len(parts) == 4 and parts[0] == "merchant":
            return cls(AccountKind(parts[2]), parts[3], parts[1], livemode)
        if len(parts) == 3 and parts[0] == "platform":
            return cls(AccountKind(parts[1]), parts[2], "", livemode)
        raise ValueError(f"not an account code: {code!r}")

    @staticmethod
    def merchant_prefix(merchant_id: str, livemode: bool) -> str:
        """The common start of every code of one merchant's accounts in one mode."""
        return f"{LIVE_PREFIX if livemode else ''}merchant:{merchant_id}:"

    @property
    def normal_side(self) -> Side:
        return _NORMAL_SIDE[self.kind]

    def normal_balance(self, raw: int) -> int:
        """The raw sum of postings (debits positive) read on this account's normal side."""
        return raw if self.normal_side is Side.DEBIT else -raw

    def __str__(self) -> str:
        return self.code
