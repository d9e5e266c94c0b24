"""Card validation: everything is checked before anything is stored or encrypted.

- number (`card.number`, reason INVALID_NUMBER): ASCII digits, spaces and dashes between
  groups are dropped; passes Luhn; its length is one its brand issues (brand from the BIN
  table). Luhn is required of every brand (also UnionPay, where a few legacy cards fail
  it): every number the vault accepts is then one `mask_pans` recognises in a log line.
  Numbers the BIN table does not know are accepted as brand `unknown` with 13-19 digits.
- expiry (`card.exp_month` / `card.exp_year`, reason INVALID_EXPIRY): month 1-12; year as
  four digits (two digits mean 20YY); not more than 50 years ahead; not in the past. A
  card is good through the last day of its month in the cardholder's time zone, which we
  do not know, so "past" is judged at UTC-12, the last place on earth where that month
  ends: a card is never refused while it is still valid somewhere.
- cvc (`card.cvc`, reason INVALID_CVC): optional (recurring and some Maestro cards have
  none); when given, 3 digits, or 4 for amex (3 or 4 for an unknown brand).

All bad fields are reported at once (one FieldViolation each); the error's reason is the
first one's. No message contains the number or the CVC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.shared.errors import FieldViolation, InvalidArgument
from core.shared.redaction import luhn_valid
from core.shared.secret import Secret
from core.vault.bin_table import DEFAULT_BIN_TABLE, BinInfo, BinTable
from core.vault.errors import INVALID_CVC, INVALID_EXPIRY, INVALID_NUMBER
from core.vault.model import Brand, Pan

MIN_DIGITS = 13
MAX_DIGITS = 19
MAX_YEARS_AHEAD = 50
MAX_NAME_CHARS = 200
# The last time zone on earth to leave a month behind.
_LATEST_OFFSET = timedelta(hours=12)


@dataclass(frozen=True)
class BrandRule:
    lengths: frozenset[int]
    cvc_lengths: frozenset[int]


def _rule(lengths: range | tuple[int, ...], cvc: tuple[int, ...] = (3,)) -> BrandRule:
    return BrandRule(frozenset(lengths), frozenset(cvc))


BRAND_RULES: dict[Brand, BrandRule] = {
    Brand.VISA: _rule((13, 16, 19)),
    Brand.MASTERCARD: _rule((16,)),
    Brand.AMEX: _rule((15,), cvc=(4,)),
    Brand.DISCOVER: _rule(range(16, 20)),
    Brand.JCB: _rule(range(16, 20)),
    Brand.DINERS: _rule(range(14, 20)),
    Brand.UNIONPAY: _rule(range(16, 20)),
    Brand.RUPAY: _rule((16,)),
    # ISO allows 12-digit Maestro numbers; they are vanishingly rare and would escape the
    # 13-19 digit log masking, so they are not accepted.
    Brand.MAESTRO: _rule(range(13, 20)),
    Brand.UNKNOWN: _rule(range(MIN_DIGITS, MAX_DIGITS + 1), cvc=(3, 4)),
}


NO_CVC = Secret("")


@dataclass(frozen=True)
class CardInput:
    """A card as a client sent it (POST /v1/tokens `card`). Wrap number and CVC at once."""

    number: Secret
    exp_month: int
    exp_year: int
    cvc: Secret = NO_CVC
    name: str = ""


@dataclass(frozen=True)
class ValidatedCard:
    pan: Pan
    exp_month: int
    exp_year: int  # four digits
    cvc: Secret | None
    name: str
    bin: BinInfo

    @property
    def brand(self) -> Brand:
        return self.bin.brand


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[FieldViolation, str]] = []

    def add(self, field: str, description: str, reason: str) -> None:
        self.items.append((FieldViolation(field, description), reason))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument([v for v, _ in self.items], reason=self.items[0][1])


def validate_card(
    card: CardInput, *, now: datetime, bins: BinTable = DEFAULT_BIN_TABLE
) -> ValidatedCard:
    """The card, checked and normalised, or InvalidArgument naming every bad field."""
    problems = _Problems()
    digits, info = _check_number(card.number.reveal(), bins, problems)
    exp_year = _check_expiry(card.exp_month, card.exp_year, now, problems)
    cvc = _check_cvc(card.cvc.reveal(), BRAND_RULES[info.brand], problems)
    name = card.name.strip()
    if len(name) > MAX_NAME_CHARS:
        problems.add(
            "card.name", f"may be at most {MAX_NAME_CHARS} characters", reason="INVALID_NAME"
        )
    problems.raise_if_any()
    return ValidatedCard(
        pan=Pan(digits),
        exp_month=card.exp_month,
        exp_year=exp_year,
        cvc=cvc,
        name=name,
        bin=info,
    )


def card_digits(number: str) -> str:
    """A card number as typed (spaces and dashes between the digits) as its digits."""
    return number.replace(" ", "").replace("-", "")


def _check_number(raw: str, bins: BinTable, problems: _Problems) -> tuple[str, BinInfo]:
    field = "card.number"
    if not raw.strip():
        problems.add(field, "is required", reason=INVALID_NUMBER)
        return "", BinInfo(Brand.UNKNOWN)
    digits = card_digits(raw)
    if not (digits.isascii() and digits.isdigit()):
        problems.add(field, "must contain only digits", reason=INVALID_NUMBER)
        return "", BinInfo(Brand.UNKNOWN)
    info = bins.lookup(digits)
    rule = BRAND_RULES[info.brand]
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        problems.add(field, f"must have {MIN_DIGITS} to {MAX_DIGITS} digits", reason=INVALID_NUMBER)
    elif len(digits) not in rule.lengths:
        lengths = " or ".join(str(n) for n in sorted(rule.lengths))
        problems.add(
            field, f"a {info.brand} card number has {lengths} digits", reason=INVALID_NUMBER
        )
    elif not luhn_valid(digits):
        problems.add(field, "is not a valid card number", reason=INVALID_NUMBER)
    return digits, info


def _check_expiry(month: int, year: int, now: datetime, problems: _Problems) -> int:
    month_ok = 1 <= month <= 12
    if not month_ok:
        problems.add("card.exp_month", "must be a month from 1 to 12", reason=INVALID_EXPIRY)
    if 0 < year < 100:
        year += 2000
    latest_past = now - _LATEST_OFFSET
    if year <= 0:
        problems.add(
            "card.exp_year", "is required: four digits such as 2030", reason=INVALID_EXPIRY
        )
    elif year < latest_past.year:
        problems.add("card.exp_year", "is in the past: the card has expired", reason=INVALID_EXPIRY)
    elif year > latest_past.year + MAX_YEARS_AHEAD:
        problems.add(
            "card.exp_year", f"is more than {MAX_YEARS_AHEAD} years ahead", reason=INVALID_EXPIRY
        )
    elif month_ok and year == latest_past.year and month < latest_past.month:
        problems.add(
            "card.exp_month", "is in the past: the card has expired", reason=INVALID_EXPIRY
        )
    return year


def _check_cvc(raw: str, rule: BrandRule, problems: _Problems) -> Secret | None:
    if not raw:
        return None
    if raw.isascii() and raw.isdigit() and len(raw) in rule.cvc_lengths:
        return Secret(raw)
    lengths = " or ".join(str(n) for n in sorted(rule.cvc_lengths))
    problems.add("card.cvc", f"must be {lengths} digits for this card", reason=INVALID_CVC)
    return None
