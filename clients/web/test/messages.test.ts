// What the shopper reads when a payment is declined (clients/web/checkout/messages.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { declineMessage } from "../checkout/messages";

describe("decline messages", () => {
  test("a card's words by default", () => {
    assert.equal(declineMessage("insufficient_funds"), "Your card has insufficient funds.");
    assert.equal(declineMessage("insufficient_funds", "card"), "Your card has insufficient funds.");
  });

  test("a wallet's and a bank's own words where a card's would be wrong", () => {
    assert.equal(declineMessage("insufficient_funds", "wallet"), "Your wallet balance is too low for this payment.");
    assert.equal(declineMessage("insufficient_funds", "netbanking"), "Your bank account has insufficient funds.");
    assert.equal(declineMessage("authentication_failed", "netbanking"), "Your bank could not log you in.");
  });

  test("the shared words otherwise, and a fallback for an unknown code", () => {
    assert.equal(declineMessage("declined_by_payer", "wallet"), "The payment was declined.");
    assert.equal(declineMessage("approval_expired", "netbanking"), "The payment was not approved in time.");
    assert.equal(declineMessage("no_such_code", "wallet"), "Your payment was declined.");
  });
});
