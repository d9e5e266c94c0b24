// The checkout's validators and formatters (clients/web/checkout/validators.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  cardBrand,
  CURRENCY_EXPONENTS,
  formatAmount,
  formatCardNumber,
  formatExpiry,
  luhnValid,
  parseExpiry,
  validateCardNumber,
  validateCvc,
  validateName,
  validateVpa,
} from "../checkout/validators";

const NOW = new Date("2026-12-06T12:00:00Z");

describe("card number", () => {
  test("the brand comes from the first digits", () => {
    assert.equal(cardBrand("4242"), "visa");
    assert.equal(cardBrand("5555 5555"), "mastercard");
    assert.equal(cardBrand("2221 00"), "mastercard");
    assert.equal(cardBrand("3782"), "amex");
    assert.equal(cardBrand("6011"), "discover");
    assert.equal(cardBrand("3530"), "jcb");
    assert.equal(cardBrand("6521 5000"), "rupay");
    assert.equal(cardBrand("6500"), "discover");
    assert.equal(cardBrand("9999"), "unknown");
    assert.equal(cardBrand(""), "unknown");
  });

  test("digits are grouped as the card prints them", () => {
    assert.equal(formatCardNumber("4242424242424242"), "4242 4242 4242 4242");
    assert.equal(formatCardNumber("4242-4242 42"), "4242 4242 42");
    assert.equal(formatCardNumber("378282246310005"), "3782 822463 10005");
    assert.equal(formatCardNumber("4242424242424242424242"), "4242 4242 4242 4242 424");
  });

  test("Luhn", () => {
    assert.ok(luhnValid("4242424242424242"));
    assert.ok(luhnValid("378282246310005"));
    assert.ok(!luhnValid("4242424242424241"));
    assert.ok(!luhnValid(""));
    assert.ok(!luhnValid("4242a"));
  });

  test("a complete, valid number passes", () => {
    for (const number of ["4242 4242 4242 4242", "5555555555554444", "378282246310005", "4000002760003184"]) {
      assert.equal(validateCardNumber(number), "", number);
    }
  });

  test("messages say what is wrong", () => {
    assert.equal(validateCardNumber(""), "Enter your card number.");
    assert.equal(validateCardNumber("4242 4242"), "Your card number is incomplete.");
    assert.equal(validateCardNumber("4242 4242 4242 4241"), "Your card number is invalid. Check it and try again.");
    assert.equal(validateCardNumber("4242 abcd"), "A card number has only digits.");
    assert.equal(validateCardNumber("3782 822463 100055"), "A American Express number has at most 15 digits.");
  });

  test("while typing, a short number is not an error yet", () => {
    assert.equal(validateCardNumber("4242 42", false), "");
    assert.equal(validateCardNumber("", false), "");
    // 16 digits failing Luhn may still grow to a valid 19-digit Visa...
    assert.equal(validateCardNumber("4242 4242 4242 4241", false), "");
    // ...but a Mastercard cannot.
    assert.match(validateCardNumber("5555 5555 5555 4445", false), /invalid/);
  });
});

describe("expiry", () => {
  test("accepts MM / YY, MMYY and MM/YYYY", () => {
    assert.deepEqual(parseExpiry("12 / 34", NOW), { month: 12, year: 2034 });
    assert.deepEqual(parseExpiry("1234", NOW), { month: 12, year: 2034 });
    assert.deepEqual(parseExpiry("01/2030", NOW), { month: 1, year: 2030 });
  });

  test("the current month is still good; last month has expired", () => {
    assert.deepEqual(parseExpiry("12 / 26", NOW), { month: 12, year: 2026 });
    assert.equal(parseExpiry("11 / 26", NOW), "Your card has expired.");
    assert.equal(parseExpiry("12 / 25", NOW), "Your card has expired.");
  });

  test("the month ends last in the last time zone (UTC-12)", () => {
    const justAfterNewYearUtc = new Date("2027-01-01T05:00:00Z");
    assert.deepEqual(parseExpiry("12 / 26", justAfterNewYearUtc), { month: 12, year: 2026 });
  });

  test("messages", () => {
    assert.equal(parseExpiry("", NOW), "Enter the expiry date (MM / YY).");
    assert.equal(parseExpiry("13 / 30", NOW), "The expiry month must be 01 to 12.");
    assert.equal(parseExpiry("00 / 30", NOW), "The expiry month must be 01 to 12.");
    assert.equal(parseExpiry("12", NOW), "Your card's expiry date is incomplete.");
    assert.equal(parseExpiry("12", NOW, false), "");
    assert.equal(parseExpiry("12 / 99", NOW), "Your card's expiry year is too far in the future.");
    assert.equal(parseExpiry("ab", NOW), "Enter the expiry date as MM / YY.");
  });

  test("formatted as the shopper types", () => {
    assert.equal(formatExpiry("1"), "1");
    assert.equal(formatExpiry("4"), "04 / ");
    assert.equal(formatExpiry("12"), "12 / ");
    assert.equal(formatExpiry("12", true), "12");
    assert.equal(formatExpiry("1234"), "12 / 34");
    assert.equal(formatExpiry("12 / 345"), "12 / 34");
  });
});

describe("CVC, name and UPI ID", () => {
  test("CVC length follows the brand", () => {
    assert.equal(validateCvc("123", "4242424242424242"), "");
    assert.equal(validateCvc("1234", "378282246310005"), "");
    assert.equal(validateCvc("123", "378282246310005"), "The security code has 4 digits for this card.");
    assert.equal(validateCvc("1234", "4242424242424242"), "The security code has 3 digits for this card.");
    assert.equal(validateCvc("12", "4242424242424242", false), "");
    assert.equal(validateCvc("", "4242424242424242"), "Enter the security code (CVC).");
    assert.equal(validateCvc("1a3", "4242424242424242"), "The security code has only digits.");
  });

  test("name on card", () => {
    assert.equal(validateName("Ada Lovelace"), "");
    assert.equal(validateName("  "), "Enter the name on your card.");
    assert.equal(validateName("4242424242424242"), "Enter your name here, not a number.");
  });

  test("UPI ID", () => {
    assert.equal(validateVpa("success@upi"), "");
    assert.equal(validateVpa(" Name.Surname@OkAxis "), "");
    assert.equal(validateVpa(""), "Enter your UPI ID (for example name@bank).");
    assert.equal(validateVpa("not a vpa"), "That is not a UPI ID: it looks like name@bank.");
    assert.equal(validateVpa("a@1bank"), "That is not a UPI ID: it looks like name@bank.");
  });
});

describe("amounts", () => {
  test("formatted with the currency's exponent, from integer minor units", () => {
    assert.equal(formatAmount(2500, "eur"), "€25.00");
    assert.equal(formatAmount(2500n, "USD"), "$25.00");
    assert.equal(formatAmount(1000, "JPY"), "¥1,000");
    assert.equal(formatAmount(1234, "KWD"), "KWD\u00a01.234");
    assert.equal(formatAmount(5, "usd"), "$0.05");
    assert.equal(formatAmount(123456789012n, "INR"), "₹1,234,567,890.12");
  });

  test("amounts beyond a float's precision stay exact", () => {
    assert.equal(formatAmount(9007199254740993n, "usd"), "$90,071,992,547,409.93");
  });

  test("the exponent table lists only non-2 currencies", () => {
    for (const exponent of Object.values(CURRENCY_EXPONENTS)) assert.notEqual(exponent, 2);
  });
});
