// What the checkout checks as the shopper types, with messages a shopper understands.
// Pure functions (no DOM), unit-tested in clients/web/test/validators.test.ts. The vault
// validates again (core/vault/cards.py): these only spare the shopper a round trip.

export type Brand = "visa" | "mastercard" | "amex" | "discover" | "jcb" | "diners" | "unionpay" | "rupay" | "unknown";

interface BrandRule {
  brand: Brand;
  label: string;
  prefix: RegExp;
  lengths: number[];
  cvc: number[];
  // Digits per group as cards print them: 4-4-4-4, or 4-6-5 (amex) and 4-6-4 (diners).
  groups: number[];
}

const FOURS = [4, 4, 4, 4, 3];
// Order matters: the first prefix that matches names the brand. The brand rows of the
// vault's BIN table (core/vault/bin_table.py), more specific ones first.
const RULES: BrandRule[] = [
  { brand: "amex", label: "American Express", prefix: /^3[47]/, lengths: [15], cvc: [4], groups: [4, 6, 5] },
  { brand: "diners", label: "Diners Club", prefix: /^3(0[0-5]|095|[689])/, lengths: [14, 15, 16, 17, 18, 19], cvc: [3], groups: [4, 6, 4] },
  { brand: "jcb", label: "JCB", prefix: /^35(2[89]|[3-8])/, lengths: [16, 17, 18, 19], cvc: [3], groups: FOURS },
  { brand: "rupay", label: "RuPay", prefix: /^(508[5-9]|6069[89]|607|608[0-5]|652[1-9]|653[01]|81[7-9]|820)/, lengths: [16], cvc: [3], groups: FOURS },
  { brand: "discover", label: "Discover", prefix: /^(6011|64[4-9]|65)/, lengths: [16, 17, 18, 19], cvc: [3], groups: FOURS },
  { brand: "unionpay", label: "UnionPay", prefix: /^(62|81[0-7])/, lengths: [16, 17, 18, 19], cvc: [3], groups: FOURS },
  { brand: "mastercard", label: "Mastercard", prefix: /^(5[1-5]|2(2[2-9]|[3-6]|7[01]|720))/, lengths: [16], cvc: [3], groups: FOURS },
  { brand: "visa", label: "Visa", prefix: /^4/, lengths: [13, 16, 19], cvc: [3], groups: FOURS },
];
const UNKNOWN: BrandRule = {
  brand: "unknown", label: "Card", prefix: /^/, lengths: [13, 14, 15, 16, 17, 18, 19], cvc: [3, 4], groups: FOURS,
};

export function digitsOf(value: string): string {
  return value.replace(/\D/g, "");
}

function ruleFor(digits: string): BrandRule {
  return RULES.find((rule) => rule.prefix.test(digits)) ?? UNKNOWN;
}

export function cardBrand(number: string): Brand {
  return ruleFor(digitsOf(number)).brand;
}

export function brandLabel(brand: Brand): string {
  return (RULES.find((rule) => rule.brand === brand) ?? UNKNOWN).label;
}

export function maxCardDigits(number: string): number {
  return Math.max(...ruleFor(digitsOf(number)).lengths);
}

// "4242424242424242" -> "4242 4242 4242 4242"; amex "3782 822463 10005".
export function formatCardNumber(value: string): string {
  const digits = digitsOf(value).slice(0, 19);
  const parts: string[] = [];
  let at = 0;
  for (const size of ruleFor(digits).groups) {
    if (at >= digits.length) break;
    parts.push(digits.slice(at, at + size));
    at += size;
  }
  if (at < digits.length) parts.push(digits.slice(at));
  return parts.join(" ");
}

export function luhnValid(digits: string): boolean {
  if (!/^\d+$/.test(digits)) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

// "" when the number may be sent; otherwise what to tell the shopper. `complete` is false
// while the shopper is still typing (too few digits is then no error yet).
export function validateCardNumber(value: string, complete = true): string {
  const digits = digitsOf(value);
  if (/[^\d\s-]/.test(value)) return "A card number has only digits.";
  if (!digits) return complete ? "Enter your card number." : "";
  const rule = ruleFor(digits);
  const longest = Math.max(...rule.lengths);
  if (digits.length > longest) return `A ${rule.label} number has at most ${longest} digits.`;
  if (!rule.lengths.includes(digits.length)) {
    if (!complete && digits.length < longest) return "";
    return "Your card number is incomplete.";
  }
  if (!luhnValid(digits)) {
    // Still typing a brand whose numbers can be longer: wait before judging.
    if (!complete && digits.length < longest) return "";
    return "Your card number is invalid. Check it and try again.";
  }
  return "";
}

export interface Expiry {
  month: number;
  year: number; // four digits
}

// "12/34", "12 / 34", "1234", "12/2034" -> {month: 12, year: 2034}; or a message.
export function parseExpiry(value: string, now: Date, complete = true): Expiry | string {
  const text = value.trim();
  if (!text) return complete ? "Enter the expiry date (MM / YY)." : "";
  const match = /^(\d{1,2})\s*\/?\s*(\d{2}|\d{4})?$/.exec(text.replace(/\s+/g, " "));
  const digits = digitsOf(text);
  const parts = match ?? (digits.length === 4 ? [text, digits.slice(0, 2), digits.slice(2)] : null);
  if (!parts) return "Enter the expiry date as MM / YY.";
  const month = Number(parts[1]);
  if (!parts[2]) {
    if (month > 12 || (parts[1].length === 2 && month === 0)) return "The expiry month must be 01 to 12.";
    return complete ? "Your card's expiry date is incomplete." : "";
  }
  if (month < 1 || month > 12) return "The expiry month must be 01 to 12.";
  const year = parts[2].length === 2 ? 2000 + Number(parts[2]) : Number(parts[2]);
  // The card is good through the end of its month, anywhere on earth (UTC-12).
  const latest = new Date(now.getTime() - 12 * 3600 * 1000);
  const nowYear = latest.getUTCFullYear();
  const nowMonth = latest.getUTCMonth() + 1;
  if (year < nowYear || (year === nowYear && month < nowMonth)) return "Your card has expired.";
  if (year > nowYear + 50) return "Your card's expiry year is too far in the future.";
  return { month, year };
}

// "12 / 34" as the shopper types "1234"; a lone "2" becomes "02 / ".
export function formatExpiry(value: string, deleting = false): string {
  const digits = digitsOf(value).slice(0, 4);
  if (!digits) return "";
  let month = digits.slice(0, 2);
  if (digits.length === 1 && Number(digits) > 1) month = `0${digits}`;
  const rest = digits.length === 1 && Number(digits) > 1 ? "" : digits.slice(2);
  if (month.length < 2) return month;
  if (!rest) return deleting ? month : `${month} / `;
  return `${month} / ${rest}`;
}

export function validateCvc(value: string, number: string, complete = true): string {
  const rule = ruleFor(digitsOf(number));
  const need = rule.cvc.join(" or ");
  if (!value) return complete ? "Enter the security code (CVC)." : "";
  if (!/^\d+$/.test(value)) return "The security code has only digits.";
  if (value.length > Math.max(...rule.cvc)) return `The security code has ${need} digits for this card.`;
  if (!rule.cvc.includes(value.length)) return complete ? `The security code has ${need} digits for this card.` : "";
  return "";
}

export function validateName(value: string): string {
  const name = value.trim();
  if (!name) return "Enter the name on your card.";
  if (name.length > 200) return "The name is too long.";
  if (/\d{6,}/.test(name)) return "Enter your name here, not a number.";
  return "";
}

// A UPI address: name@bank (the server's VPA_PATTERN, case-insensitive).
export function validateVpa(value: string): string {
  const vpa = value.trim().toLowerCase();
  if (!vpa) return "Enter your UPI ID (for example name@bank).";
  if (!/^[a-z0-9][a-z0-9._-]{1,255}@[a-z][a-z0-9]{1,63}$/.test(vpa)) {
    return "That is not a UPI ID: it looks like name@bank.";
  }
  return "";
}

// ISO 4217 minor-unit exponents; the same table as core/shared/money.py (a test compares
// them). Currencies not listed have two decimals.
export const CURRENCY_EXPONENTS: Record<string, number> = {
  BHD: 3, CLP: 0, ISK: 0, JOD: 3, JPY: 0, KRW: 0, KWD: 3, OMR: 3, TND: 3, UGX: 0, VND: 0,
  XAF: 0, XOF: 0,
};

export function exponentOf(currency: string): number {
  return CURRENCY_EXPONENTS[currency.toUpperCase()] ?? 2;
}

// 2500 EUR -> "€25.00"; 1000 JPY -> "¥1,000"; 1234 KWD -> "KWD 1.234". Integer
// arithmetic on minor units (bigint), never a float.
export function formatAmount(minor: bigint | number, currency: string, locale = "en-US"): string {
  const code = currency.toUpperCase();
  const exponent = exponentOf(code);
  const amount = BigInt(minor);
  const negative = amount < 0n;
  const abs = negative ? -amount : amount;
  const scale = 10n ** BigInt(exponent);
  const whole = abs / scale;
  const fraction = (abs % scale).toString().padStart(exponent, "0");
  const formatter = new Intl.NumberFormat(locale, {
    style: "currency",
    currency: code,
    minimumFractionDigits: exponent,
    maximumFractionDigits: exponent,
  });
  // Format the whole part with the currency's symbol and grouping, then put back the
  // exact fraction in place of the formatter's zeros.
  const parts = formatter.formatToParts(0);
  const text = parts
    .map((part) => {
      if (part.type === "integer") return new Intl.NumberFormat(locale).format(whole);
      if (part.type === "fraction") return fraction;
      return part.value;
    })
    .join("");
  return negative ? `-${text}` : text;
}
