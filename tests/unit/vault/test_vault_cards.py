from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.shared.errors import InvalidArgument
from core.shared.redaction import luhn_valid
from core.shared.secret import Secret
from core.vault.bin_table import DEFAULT_BIN_TABLE, BinRange, BinTable
from core.vault.cards import CardInput, validate_card
from core.vault.model import Brand, Funding, Pan

NOW = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)

API_MD_TEST_CARDS = {
    "4242424242424242": Brand.VISA,
    "5555555555554444": Brand.MASTERCARD,
    "378282246310005": Brand.AMEX,
    "4000000000000002": Brand.VISA,
    "4000000000009995": Brand.VISA,
    "4000000000000069": Brand.VISA,
    "4000000000000127": Brand.VISA,
    "4000000000000119": Brand.VISA,
    "4000002760003184": Brand.VISA,
    "4000000000000408": Brand.VISA,
    "4100000000000019": Brand.VISA,
    "4000000000000259": Brand.VISA,
}


def with_check_digit(body: str) -> str:
    """`body` plus the digit that makes it pass Luhn."""
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


def card(number: str = "4242424242424242", **kw: object) -> CardInput:
    fields: dict[str, object] = {"exp_month": 12, "exp_year": 2030, "cvc": "123", "name": ""}
    fields.update(kw)
    return CardInput(
        number=Secret(number),
        exp_month=int(fields["exp_month"]),  # type: ignore[call-overload]
        exp_year=int(fields["exp_year"]),  # type: ignore[call-overload]
        cvc=Secret(str(fields["cvc"])),
        name=str(fields["name"]),
    )


def violation(exc: pytest.ExceptionInfo[InvalidArgument]) -> tuple[str, str]:
    return exc.value.violations[0].field, exc.value.reason


# ------------------------------------------------------------------------ Luhn


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("79927398713", True),  # the textbook example
        ("79927398710", False),
        ("4242424242424242", True),
        ("4242424242424241", False),
        ("0", True),
        ("", False),
        ("42424242x4242424", False),
        ("٤٢٤٢", False),  # non-ASCII digits
    ],
)
def test_luhn(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


@given(st.text(alphabet="0123456789", min_size=12, max_size=18))
def test_exactly_one_check_digit_completes_a_number(body: str) -> None:
    assert sum(luhn_valid(body + d) for d in "0123456789") == 1


# ------------------------------------------------------------- brands and BINs


@pytest.mark.parametrize(("number", "brand"), API_MD_TEST_CARDS.items())
def test_every_api_md_test_card_validates_with_its_brand(number: str, brand: Brand) -> None:
    valid = validate_card(card(number, cvc="1234" if brand is Brand.AMEX else "123"), now=NOW)
    assert valid.brand is brand
    assert valid.pan.last4 == number[-4:]


@pytest.mark.parametrize(
    ("number", "brand", "funding", "country"),
    [
        ("4242424242424242", Brand.VISA, Funding.CREDIT, "US"),
        ("4000056655665556", Brand.VISA, Funding.DEBIT, "US"),
        ("4000002760003184", Brand.VISA, Funding.CREDIT, "DE"),
        ("5200828282828210", Brand.MASTERCARD, Funding.DEBIT, "US"),
        ("5105105105105100", Brand.MASTERCARD, Funding.PREPAID, "US"),
        ("2223003122003222", Brand.MASTERCARD, Funding.CREDIT, "US"),
        ("371449635398431", Brand.AMEX, Funding.CREDIT, "US"),
        ("6011111111111117", Brand.DISCOVER, Funding.CREDIT, "US"),
        ("3566002020360505", Brand.JCB, Funding.UNKNOWN, ""),
        ("36227206271667", Brand.DINERS, Funding.UNKNOWN, ""),
        ("3056930009020004", Brand.DINERS, Funding.UNKNOWN, ""),
        ("6200000000000005", Brand.UNIONPAY, Funding.UNKNOWN, ""),
        (with_check_digit("608200000000000"), Brand.RUPAY, Funding.UNKNOWN, "IN"),
        (with_check_digit("652200000000000"), Brand.RUPAY, Funding.UNKNOWN, "IN"),
        (with_check_digit("650000000000000"), Brand.DISCOVER, Funding.UNKNOWN, ""),
        (with_check_digit("646000000000000"), Brand.DISCOVER, Funding.UNKNOWN, ""),
        (with_check_digit("675900000000000000"), Brand.MAESTRO, Funding.UNKNOWN, ""),
        (with_check_digit("501800000000"), Brand.MAESTRO, Funding.UNKNOWN, ""),
        (with_check_digit("272000000000000"), Brand.MASTERCARD, Funding.UNKNOWN, ""),
        (with_check_digit("353000000000000"), Brand.JCB, Funding.UNKNOWN, ""),
        (with_check_digit("810000000000000"), Brand.UNIONPAY, Funding.UNKNOWN, ""),
        (with_check_digit("411111111111"), Brand.VISA, Funding.UNKNOWN, ""),  # 13 digits
        (with_check_digit("999900000000000"), Brand.UNKNOWN, Funding.UNKNOWN, ""),
    ],
)
def test_bin_table(number: str, brand: Brand, funding: Funding, country: str) -> None:
    valid = validate_card(card(number, cvc=""), now=NOW)
    assert (valid.bin.brand, valid.bin.funding, valid.bin.country) == (brand, funding, country)


def test_the_longest_matching_prefix_wins() -> None:
    table = BinTable(
        [BinRange("4", "4", Brand.VISA), BinRange("4000", "4000", Brand.VISA, Funding.DEBIT)]
    )
    assert table.lookup("4000123412341234").funding is Funding.DEBIT
    assert table.lookup("4100123412341234").funding is Funding.UNKNOWN
    assert table.lookup("5100123412341234").brand is Brand.UNKNOWN


def test_overlapping_rows_of_one_length_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        BinTable([BinRange("51", "55", Brand.MASTERCARD), BinRange("55", "56", Brand.VISA)])


def test_the_shipped_table_builds() -> None:
    assert DEFAULT_BIN_TABLE.lookup("4").brand is Brand.VISA


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("424242424242424", "15-digit visa"),
        ("42424242424242424", "17-digit visa"),
        (with_check_digit("55555555555544"), "15-digit mastercard"),
        (with_check_digit("3782822463100050"), "16-digit amex"),
        (with_check_digit("60820000000000000"), "18-digit rupay"),
        ("4242424242424241", "Luhn"),
        ("42424242424", "too short"),
        (with_check_digit("4" * 19), "20 digits"),
        ("4242 4242 4242 424x", "a letter"),
        ("4242424242424242".replace("4", "٤"), "non-ASCII digits"),
        ("", "missing"),
        ("   ", "blank"),
    ],
)
def test_bad_numbers_are_invalid_number(number: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_card(card(number), now=NOW)
    assert violation(exc) == ("card.number", "INVALID_NUMBER"), why
    assert exc.value.metadata["param"] == "card.number"


@pytest.mark.parametrize("number", ["4242 4242 4242 4242", "4242-4242-4242-4242"])
def test_spaces_and_dashes_between_groups_are_dropped(number: str) -> None:
    assert validate_card(card(number), now=NOW).pan == Pan("4242424242424242")


# --------------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("now", "month", "year", "ok"),
    [
        (NOW, 3, 2026, True),  # the current month is still good
        (NOW, 2, 2026, False),
        (NOW, 12, 2025, False),
        (NOW, 1, 2027, True),
        (NOW, 3, 26, True),  # two digits mean 20YY
        (NOW, 2, 26, False),
        # The month ends at UTC-12: on 1 April 11:59 UTC it is still 31 March somewhere.
        (datetime(2026, 4, 1, 11, 59, tzinfo=UTC), 3, 2026, True),
        (datetime(2026, 4, 1, 12, 0, tzinfo=UTC), 3, 2026, False),
        (datetime(2027, 1, 1, 11, 59, tzinfo=UTC), 12, 2026, True),
        (datetime(2027, 1, 1, 12, 0, tzinfo=UTC), 12, 2026, False),
        (NOW, 12, 2076, True),
        (NOW, 1, 2077, False),  # more than 50 years ahead
    ],
)
def test_expiry_against_the_injected_clock(now: datetime, month: int, year: int, ok: bool) -> None:
    if ok:
        assert validate_card(card(exp_month=month, exp_year=year), now=now).exp_year >= 2026
    else:
        with pytest.raises(InvalidArgument) as exc:
            validate_card(card(exp_month=month, exp_year=year), now=now)
        field, reason = violation(exc)
        assert reason == "INVALID_EXPIRY"
        assert field in {"card.exp_month", "card.exp_year"}


@pytest.mark.parametrize(
    ("month", "year", "field"),
    [
        (0, 2030, "card.exp_month"),
        (13, 2030, "card.exp_month"),
        (-1, 2030, "card.exp_month"),
        (12, 0, "card.exp_year"),
        (12, 2025, "card.exp_year"),
        (2, 2026, "card.exp_month"),
    ],
)
def test_expiry_errors_name_the_field(month: int, year: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_card(card(exp_month=month, exp_year=year), now=NOW)
    assert violation(exc) == (field, "INVALID_EXPIRY")


# ------------------------------------------------------------------------ CVC


@pytest.mark.parametrize(
    ("number", "cvc", "ok"),
    [
        ("4242424242424242", "123", True),
        ("4242424242424242", "1234", False),
        ("4242424242424242", "12", False),
        ("4242424242424242", "12a", False),
        ("378282246310005", "1234", True),
        ("378282246310005", "123", False),
        ("5555555555554444", "", True),  # optional
        (with_check_digit("999900000000000"), "1234", True),  # unknown brand: 3 or 4
    ],
)
def test_cvc_length_per_brand(number: str, cvc: str, ok: bool) -> None:
    if ok:
        valid = validate_card(card(number, cvc=cvc), now=NOW)
        assert (valid.cvc.reveal() if valid.cvc else "") == cvc
    else:
        with pytest.raises(InvalidArgument) as exc:
            validate_card(card(number, cvc=cvc), now=NOW)
        assert violation(exc) == ("card.cvc", "INVALID_CVC")


# ---------------------------------------------------------- errors and secrecy


def test_every_bad_field_is_reported_and_the_first_gives_the_reason() -> None:
    with pytest.raises(InvalidArgument) as exc:
        validate_card(card("4242424242424241", exp_month=13, exp_year=2020, cvc="1"), now=NOW)
    assert [v.field for v in exc.value.violations] == [
        "card.number",
        "card.exp_month",
        "card.exp_year",
        "card.cvc",
    ]
    assert exc.value.reason == "INVALID_NUMBER"


@given(
    body=st.text(alphabet="0123456789", min_size=14, max_size=18),
    cvc=st.text(alphabet="0123456789", min_size=5, max_size=6),
    month=st.integers(-5, 20),
    year=st.integers(-5, 3000),
)
def test_no_error_ever_shows_the_number_or_the_cvc(
    body: str, cvc: str, month: int, year: int
) -> None:
    number = "4" + body
    try:
        validate_card(card(number, cvc=cvc, exp_month=month, exp_year=year), now=NOW)
    except InvalidArgument as exc:
        shown = str(exc) + repr(exc.violations) + repr(exc.metadata) + repr(exc.args)
        assert number not in shown
        assert cvc not in shown


def test_validated_card_repr_hides_number_and_cvc() -> None:
    valid = validate_card(card("4242424242424242", cvc="987"), now=NOW)
    text = repr(valid) + str(valid.pan) + repr(card("4242424242424242", cvc="987"))
    assert "424242424242" not in text
    assert "987" not in text
    assert "Pan('****4242')" in text
