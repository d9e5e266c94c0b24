// The generated client over gRPC-Web, against a fetch that plays Envoy: the request it
// sends (path, headers, protobuf body) and the answers and errors it decodes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  apiError,
  ConfirmPaymentIntentRequestSchema,
  createPaygate,
  PaymentIntent_Status,
  PaymentIntentSchema,
} from "@paygate/client";
import { ErrorInfoSchema } from "../src/gen/google/rpc/error_details_pb";
import { StatusSchema } from "../src/gen/google/rpc/status_pb";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { grpcWebResponse } from "./grpc_web";

test("a call is a gRPC-Web POST with the key, and its answer decodes", async () => {
  const seen: { url: string; headers: Headers; body: Uint8Array }[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const body = new Uint8Array(await new Response(init?.body).arrayBuffer());
    seen.push({ url: String(input), headers: new Headers(init?.headers), body });
    const intent = create(PaymentIntentSchema, { id: "pi_1", amount: 2500n, currency: "EUR", status: PaymentIntent_Status.SUCCEEDED });
    return grpcWebResponse(toBinary(PaymentIntentSchema, intent), { "grpc-status": "0" });
  };
  const paygate = createPaygate({ baseUrl: "http://127.0.0.1:8080", key: "pk_test_abc", fetch });
  const intent = await paygate.paymentIntents.confirmPaymentIntent(
    { id: "pi_1", paymentMethod: "tok_1", clientSecret: "pi_1_secret_x" },
    { headers: { "idempotency-key": "k1" } },
  );
  assert.equal(intent.status, PaymentIntent_Status.SUCCEEDED);
  assert.equal(intent.amount, 2500n);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].url, "http://127.0.0.1:8080/paygate.v1.PaymentIntentService/ConfirmPaymentIntent");
  assert.equal(seen[0].headers.get("authorization"), "Bearer pk_test_abc");
  assert.equal(seen[0].headers.get("idempotency-key"), "k1");
  assert.match(seen[0].headers.get("content-type") ?? "", /^application\/grpc-web/);
  const sent = fromBinary(ConfirmPaymentIntentRequestSchema, seen[0].body.subarray(5));
  assert.equal(sent.paymentMethod, "tok_1");
  assert.equal(sent.clientSecret, "pi_1_secret_x");
});

test("an error carries its ErrorInfo reason and metadata", async () => {
  const status = create(StatusSchema, {
    code: 9,
    message: "Your card was declined.",
    details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, {
      reason: "CARD_DECLINED", domain: "paygate.dev", metadata: { decline_code: "insufficient_funds" },
    }))],
  });
  const details = Buffer.from(toBinary(StatusSchema, status)).toString("base64");
  const fetch = async () =>
    grpcWebResponse(null, { "grpc-status": "9", "grpc-message": "Your%20card%20was%20declined.", "grpc-status-details-bin": details });
  const paygate = createPaygate({ baseUrl: "http://127.0.0.1:8080", key: "pk_test_abc", fetch });
  const error = await paygate.paymentIntents.confirmPaymentIntent({ id: "pi_1" }).then(
    () => assert.fail("a declined confirm must throw"),
    (err: unknown) => apiError(err),
  );
  assert.deepEqual(error, {
    code: "failedPrecondition",
    reason: "CARD_DECLINED",
    metadata: { decline_code: "insufficient_funds" },
    message: "Your card was declined.",
  });
});
