// A retry after an unknown outcome reuses its Idempotency-Key (clients/web/checkout/retry.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ApiError } from "@paygate/client";
import { outcomeUnknown, PaymentTry } from "../checkout/retry";

function error(code: string, reason = ""): ApiError {
  return { code, reason, metadata: {}, message: "" };
}

function counter(): () => string {
  let n = 0;
  return () => `key-${++n}`;
}

describe("PaymentTry", () => {
  test("a retry after a 503 or a lost answer sends the same keys and the same token", () => {
    for (const code of ["unavailable", "deadlineExceeded", "aborted", "unknown", "internal", "canceled"]) {
      const attempt = new PaymentTry(counter());
      const tokenize = attempt.key("tokenize");
      attempt.token = "tok_1";
      const confirm = attempt.key("confirm");
      attempt.failed(error(code));
      assert.equal(attempt.key("tokenize"), tokenize, code);
      assert.equal(attempt.key("confirm"), confirm, code);
      assert.equal(attempt.token, "tok_1", code);
    }
  });

  test("the two operations of a try have keys of their own", () => {
    const attempt = new PaymentTry(counter());
    assert.notEqual(attempt.key("tokenize"), attempt.key("confirm"));
  });

  test("a definite answer ends the try: the next one has new keys and a new token", () => {
    for (const failure of [error("failedPrecondition", "CARD_DECLINED"), error("invalidArgument"), error("resourceExhausted", "RATE_LIMITED"), error("notFound")]) {
      const attempt = new PaymentTry(counter());
      const confirm = attempt.key("confirm");
      attempt.token = "tok_1";
      attempt.failed(failure);
      assert.notEqual(attempt.key("confirm"), confirm, failure.code);
      assert.equal(attempt.token, "", failure.code);
    }
  });

  test("ending the try (the shopper changed the card) forgets the keys", () => {
    const attempt = new PaymentTry(counter());
    const confirm = attempt.key("confirm");
    attempt.token = "tok_1";
    attempt.end();
    assert.notEqual(attempt.key("confirm"), confirm);
    assert.equal(attempt.token, "");
  });
});

describe("outcomeUnknown", () => {
  test("only codes after which the request may have been carried out", () => {
    assert.equal(outcomeUnknown(error("unavailable")), true);
    assert.equal(outcomeUnknown(error("deadlineExceeded")), true);
    assert.equal(outcomeUnknown(error("failedPrecondition", "CARD_DECLINED")), false);
    assert.equal(outcomeUnknown(error("invalidArgument")), false);
    assert.equal(outcomeUnknown(error("permissionDenied")), false);
  });
});
