// paygate's TypeScript client: the generated messages and service descriptors (src/gen,
// `make gen`), called over gRPC-Web through Envoy with @connectrpc/connect-web.
//
//   const paygate = createPaygate({ baseUrl: "http://127.0.0.1:8080", key: "pk_test_..." });
//   const intent = await paygate.paymentIntents.getPaymentIntent({ id, clientSecret });

import { createClient, ConnectError, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { PaymentIntentService } from "./gen/paygate/v1/payment_intents_pb.js";
import { TokenService } from "./gen/paygate/v1/tokens_pb.js";

export * from "./gen/paygate/v1/payment_intents_pb.js";
export * from "./gen/paygate/v1/tokens_pb.js";
// The rest of the public API, one namespace per proto file (their names overlap).
export * as analytics from "./gen/paygate/v1/analytics_pb.js";
export * as apiKeys from "./gen/paygate/v1/api_keys_pb.js";
export * as auditLog from "./gen/paygate/v1/audit_log_pb.js";
export * as auth from "./gen/paygate/v1/auth_pb.js";
export * as balance from "./gen/paygate/v1/balance_pb.js";
export * as businessProfile from "./gen/paygate/v1/business_profile_pb.js";
export * as disputes from "./gen/paygate/v1/disputes_pb.js";
export * as events from "./gen/paygate/v1/events_pb.js";
export * as members from "./gen/paygate/v1/members_pb.js";
export * as payouts from "./gen/paygate/v1/payouts_pb.js";
export * as refunds from "./gen/paygate/v1/refunds_pb.js";
export * as settlements from "./gen/paygate/v1/settlements_pb.js";
export * as webhooks from "./gen/paygate/v1/webhook_endpoints_pb.js";
export { ConnectError, Code } from "@connectrpc/connect";

export interface PaygateOptions {
  // Envoy's REST listener, which also answers gRPC-Web: http://127.0.0.1:8080.
  baseUrl: string;
  // A publishable key in a browser (pk_test_...), a secret key on a server.
  key: string;
  // For tests: the fetch to send requests with.
  fetch?: typeof globalThis.fetch;
}

export interface Paygate {
  paymentIntents: Client<typeof PaymentIntentService>;
  tokens: Client<typeof TokenService>;
  transport: Transport;
}

export function createPaygate(options: PaygateOptions): Paygate {
  const authorize: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${options.key}`);
    return next(request);
  };
  const transport = createGrpcWebTransport({
    baseUrl: options.baseUrl,
    interceptors: [authorize],
    fetch: options.fetch,
  });
  return {
    paymentIntents: createClient(PaymentIntentService, transport),
    tokens: createClient(TokenService, transport),
    transport,
  };
}

// A gRPC-Web transport through Envoy whose every call carries the headers `headers()`
// answers at the time (a dashboard's session changes while the page lives).
// `interceptors` run after the headers are set (e.g. to sign out on UNAUTHENTICATED).
export function createHeaderTransport(
  baseUrl: string,
  headers: () => Promise<Record<string, string>>,
  interceptors: Interceptor[] = [],
  fetch?: typeof globalThis.fetch,
): Transport {
  const attach: Interceptor = (next) => async (request) => {
    for (const [name, value] of Object.entries(await headers())) request.header.set(name, value);
    return next(request);
  };
  return createGrpcWebTransport({ baseUrl, interceptors: [attach, ...interceptors], fetch });
}

export interface ApiError {
  // The gRPC code's name in lower camel case (connect's names): invalidArgument, ...
  code: string;
  // ErrorInfo.reason: CARD_DECLINED, PARAMETER_INVALID, ... ("" when absent).
  reason: string;
  // ErrorInfo.metadata: decline_code, param, ...
  metadata: Record<string, string>;
  message: string;
}

// What the server said, from any error a client call throws: branch on `reason`, show
// `message` only as a last resort.
export function apiError(error: unknown): ApiError {
  const err = ConnectError.from(error);
  const info = err.findDetails(ErrorInfoSchema)[0];
  const codeName = Object.entries(codeNames).find(([, value]) => value === err.code)?.[0] ?? "unknown";
  return {
    code: codeName,
    reason: info?.reason ?? "",
    metadata: { ...(info?.metadata ?? {}) },
    message: err.rawMessage,
  };
}

const codeNames: Record<string, number> = {
  canceled: 1, unknown: 2, invalidArgument: 3, deadlineExceeded: 4, notFound: 5,
  alreadyExists: 6, permissionDenied: 7, resourceExhausted: 8, failedPrecondition: 9,
  aborted: 10, outOfRange: 11, unimplemented: 12, internal: 13, unavailable: 14,
  dataLoss: 15, unauthenticated: 16,
};
