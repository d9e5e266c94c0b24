// What the shopper reads when the API says no: by stable reason and decline code (never
// by the server's message text, which is for developers and may change).

import type { ApiError } from "@paygate/client";

const DECLINES: Record<string, string> = {
  generic_decline: "Your card was declined.",
  insufficient_funds: "Your card has insufficient funds.",
  expired_card: "Your card has expired.",
  incorrect_cvc: "Your card's security code is incorrect.",
  processing_error: "An error occurred while processing your card.",
  authentication_failed: "Your bank could not confirm it was you.",
  authentication_required: "Your bank could not confirm it was you.",
  do_not_honor: "Your card was declined.",
  lost_card: "Your card was declined.",
  stolen_card: "Your card was declined.",
  collect_expired: "The UPI payment request was not approved in time.",
  collect_declined: "The UPI payment was declined.",
  approval_expired: "The payment was not approved in time.",
  declined_by_payer: "The payment was declined.",
};

// The wallets and banks the API accepts (core/payments/redirect_methods.py).
export const WALLETS: Record<string, string> = {
  paytm: "Paytm",
  phonepe: "PhonePe",
  amazonpay: "Amazon Pay",
  mobikwik: "MobiKwik",
  freecharge: "Freecharge",
  airtelmoney: "Airtel Money",
};

export const BANKS: Record<string, string> = {
  HDFC: "HDFC Bank",
  ICIC: "ICICI Bank",
  SBIN: "State Bank of India",
  UTIB: "Axis Bank",
  KKBK: "Kotak Mahindra Bank",
  PUNB: "Punjab National Bank",
  BARB: "Bank of Baroda",
  YESB: "Yes Bank",
};

// Where the card's words would be wrong: a wallet has a balance and a limit, a bank
// account has funds and a login.
const REDIRECT_DECLINES: Record<string, Record<string, string>> = {
  wallet: {
    insufficient_funds: "Your wallet balance is too low for this payment.",
    transaction_not_allowed: "This payment is over your wallet's limit.",
    processing_error: "The wallet could not process the payment.",
  },
  netbanking: {
    insufficient_funds: "Your bank account has insufficient funds.",
    transaction_not_allowed: "This payment is over your bank's limit.",
    authentication_failed: "Your bank could not log you in.",
    issuer_not_available: "Your bank is not available right now.",
    processing_error: "Your bank could not process the payment.",
  },
};

// `method` is the payment method type the shopper paid with (card, upi, wallet, netbanking).
export function declineMessage(code: string, method = "card"): string {
  return REDIRECT_DECLINES[method]?.[code] ?? DECLINES[code] ?? "Your payment was declined.";
}

export function errorMessage(error: ApiError): string {
  switch (error.reason) {
    case "PROCESSING_ERROR":
      return "An error occurred while processing your payment. Try again.";
    case "RISK_BLOCKED":
      return "This payment was blocked. Use another payment method.";
    case "ATTEMPTS_EXHAUSTED":
      return "Too many attempts. Return to the merchant and start again.";
    case "RATE_LIMITED":
      return "Too many attempts in a short time. Wait a minute and try again.";
  }
  switch (error.code) {
    case "invalidArgument":
      return error.metadata.param?.startsWith("card.")
        ? "Check your card details and try again."
        : "Check your details and try again.";
    case "failedPrecondition":
      return "This payment cannot be made any more.";
    case "notFound":
      return "This payment link is not valid any more.";
    case "unavailable":
    case "deadlineExceeded":
      return "We could not reach the payment service. Check your connection and try again.";
    default:
      return "Something went wrong. Try again.";
  }
}
