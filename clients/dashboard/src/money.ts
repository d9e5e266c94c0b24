// Amounts as people type them, to integer minor units (never through a float), and back.

import { exponentOf, formatAmount } from "../../web/checkout/validators";

export { formatAmount };

// "12.5" in USD -> 1250n; "" or anything not a plain positive decimal with at most the
// currency's digits after the point -> an error message naming what is wrong.
export function parseAmount(text: string, currency: string): bigint | string {
  const value = text.trim().replace(/,/g, "");
  const exponent = exponentOf(currency.toUpperCase());
  const match = /^(\d+)(?:\.(\d*))?$/.exec(value);
  if (!match) return "Enter an amount such as 12.50";
  const [, whole, fraction = ""] = match;
  if (fraction.length > exponent) {
    return exponent === 0
      ? `${currency.toUpperCase()} has no minor unit: enter a whole amount`
      : `At most ${exponent} digits after the point`;
  }
  const minor = BigInt(whole) * 10n ** BigInt(exponent) + BigInt(fraction.padEnd(exponent, "0") || "0");
  if (minor <= 0n) return "The amount must be more than zero";
  return minor;
}

// The major-unit text of a minor amount, as an input's starting value: 1250n USD -> "12.50".
export function amountInput(minor: bigint, currency: string): string {
  const exponent = exponentOf(currency.toUpperCase());
  if (exponent === 0) return minor.toString();
  const text = minor.toString().padStart(exponent + 1, "0");
  return `${text.slice(0, -exponent)}.${text.slice(-exponent)}`;
}
