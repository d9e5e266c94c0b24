"""Wallets and net banking: the payment methods a payer approves on the provider's own
page (redirect-and-approve), and the listed providers the API accepts.

Both are Indian domestic methods: the wallets are stored-value accounts regulated as
prepaid payment instruments, and net banking debits a savings account at the payer's
bank. Neither moves any currency but INR, so an intent that allows them must be in INR
(checked when the intent is created; the simulators refuse other currencies as well).

The lists are closed: a provider or bank outside them is INVALID_ARGUMENT naming the
field (`wallet.provider`, `netbanking.bank`) before anything is written. Bank codes are
the four letters that start the bank's IFSC, as Indian acquirers name banks.
"""

from __future__ import annotations

from core.shared.errors import InvalidArgument

REDIRECT_CURRENCY = "INR"
REDIRECT_METHOD_TYPES = frozenset({"wallet", "netbanking"})

WALLET_PROVIDERS: dict[str, str] = {
    "paytm": "Paytm",
    "phonepe": "PhonePe",
    "amazonpay": "Amazon Pay",
    "mobikwik": "MobiKwik",
    "freecharge": "Freecharge",
    "airtelmoney": "Airtel Money",
}

BANKS: dict[str, str] = {
    "HDFC": "HDFC Bank",
    "ICIC": "ICICI Bank",
    "SBIN": "State Bank of India",
    "UTIB": "Axis Bank",
    "KKBK": "Kotak Mahindra Bank",
    "PUNB": "Punjab National Bank",
    "BARB": "Bank of Baroda",
    "YESB": "Yes Bank",
}

WALLET_FIELD = "wallet.provider"
BANK_FIELD = "netbanking.bank"


def normalize_wallet(provider: str) -> str | None:
    canonical = provider.strip().lower()
    return canonical if canonical in WALLET_PROVIDERS else None


def normalize_bank(bank: str) -> str | None:
    canonical = bank.strip().upper()
    return canonical if canonical in BANKS else None


def parse_wallet(provider: str) -> str:
    """The canonical provider, or InvalidArgument naming `wallet.provider`."""
    if not provider.strip():
        raise InvalidArgument.field(
            WALLET_FIELD, f"is required: one of {_listed(WALLET_PROVIDERS)}"
        )
    canonical = normalize_wallet(provider)
    if canonical is None:
        raise InvalidArgument.field(
            WALLET_FIELD,
            f"{provider[:32]!r} is not a supported wallet: one of {_listed(WALLET_PROVIDERS)}",
        )
    return canonical


def parse_bank(bank: str) -> str:
    """The canonical bank code, or InvalidArgument naming `netbanking.bank`."""
    if not bank.strip():
        raise InvalidArgument.field(BANK_FIELD, f"is required: one of {_listed(BANKS)}")
    canonical = normalize_bank(bank)
    if canonical is None:
        raise InvalidArgument.field(
            BANK_FIELD, f"{bank[:32]!r} is not a supported bank: one of {_listed(BANKS)}"
        )
    return canonical


def _listed(names: dict[str, str]) -> str:
    return ", ".join(names)
