// One payment try of the shopper, kept across retries while its outcome is unknown.
//
// A confirm (or a tokenization) that got no answer may have been done: the request can
// have reached the gateway and only the answer been lost (a 503 from a proxy, a dropped
// connection, a deadline). The retry must then be the same request under the same
// Idempotency-Key, so that the gateway answers what it did the first time instead of
// doing it again (docs/idempotency.md). A definite answer (paid, declined, a field to fix)
// ends the try: the next one is a new request with new keys. So does any change to what
// the shopper pays with.

import type { ApiError } from "@paygate/client";

// Codes after which the request may or may not have been carried out.
const UNKNOWN_OUTCOME = new Set(["unavailable", "deadlineExceeded", "aborted", "unknown", "internal", "canceled"]);

export function outcomeUnknown(error: ApiError): boolean {
  return UNKNOWN_OUTCOME.has(error.code);
}

export class PaymentTry {
  private keys = new Map<string, string>();
  // The card's token, once made for this try: a retry confirms with the same one.
  token = "";

  constructor(private readonly mint: () => string) {}

  // The Idempotency-Key of `operation` (tokenize, confirm) in this try.
  key(operation: string): string {
    let key = this.keys.get(operation);
    if (!key) {
      key = this.mint();
      this.keys.set(operation, key);
    }
    return key;
  }

  // After a definite answer, or when the shopper changed the card or the method.
  end(): void {
    this.keys.clear();
    this.token = "";
  }

  // After an error: the try goes on (same keys, same token) only if the outcome is unknown.
  failed(error: ApiError): void {
    if (!outcomeUnknown(error)) this.end();
  }
}
