// The dashboard's API client against a fetch that plays Envoy's gRPC-Web: each call
// carries the session and the account, an access token about to expire is refreshed
// first (once for concurrent calls), and a session the server no longer accepts signs
// the tab out.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { apiKeys, auth, balance } from "@paygate/client";
import { createApi, sessionFrom, type SessionHolder } from "../src/api";
import type { StoredSession } from "../src/session";
import { grpcWebResponse } from "../../typescript/test/grpc_web";

function grpcWeb(message: Uint8Array | null, status = 0): Response {
  return grpcWebResponse(message, { "grpc-status": String(status), "grpc-message": "no" });
}

function holderOf(session: StoredSession | null): SessionHolder & { current: StoredSession | null } {
  const holder = {
    current: session,
    get: () => holder.current,
    set: (next: StoredSession | null) => void (holder.current = next),
  };
  return holder;
}

const session: StoredSession = {
  accessToken: "at_1", refreshToken: "rt_1", expiresAt: Date.now() + 3_600_000, email: "a@b.c",
  accounts: [{ accountId: "acct_1", accountName: "One", role: "OWNER" }], accountId: "acct_1",
};
const emptyBalance = toBinary(balance.BalanceSchema, create(balance.BalanceSchema, {}));

test("every call carries the access token and the account acted in", async () => {
  const seen: Headers[] = [];
  const fetch = async (_: RequestInfo | URL, init?: RequestInit) => {
    seen.push(new Headers(init?.headers));
    return grpcWeb(emptyBalance);
  };
  const api = createApi("http://127.0.0.1:8080", holderOf(session), fetch);
  await api.balance.getBalance({});
  assert.equal(seen[0].get("authorization"), "Bearer at_1");
  assert.equal(seen[0].get("paygate-account"), "acct_1");
  assert.equal(seen[0].get("paygate-mode"), "test");
});

test("a session in live mode says so on every call, and a refresh keeps the mode", async () => {
  const seen: Headers[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    if (new URL(String(input)).pathname.endsWith("/Refresh")) {
      const answer = create(auth.SessionSchema, {
        accessToken: "at_2", refreshToken: "rt_2", expiresIn: 900n,
        accounts: [{ account: { id: "acct_1", name: "One" }, role: apiKeys.Role.OWNER }],
      });
      return grpcWeb(toBinary(auth.SessionSchema, answer));
    }
    seen.push(new Headers(init?.headers));
    return grpcWeb(emptyBalance);
  };
  const holder = holderOf({ ...session, livemode: true, expiresAt: Date.now() + 1000 });
  await createApi("http://127.0.0.1:8080", holder, fetch).balance.getBalance({});
  assert.equal(seen[0].get("paygate-mode"), "live");
  assert.equal(holder.current?.livemode, true);
});

test("an access token about to expire is refreshed once, before the calls", async () => {
  const paths: string[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const path = new URL(String(input)).pathname;
    paths.push(`${path} ${new Headers(init?.headers).get("authorization") ?? ""}`);
    if (path.endsWith("/Refresh")) {
      const answer = create(auth.SessionSchema, {
        accessToken: "at_2", refreshToken: "rt_2", expiresIn: 900n,
        accounts: [{ account: { id: "acct_1", name: "One" }, role: apiKeys.Role.OWNER }],
      });
      return grpcWeb(toBinary(auth.SessionSchema, answer));
    }
    return grpcWeb(emptyBalance);
  };
  const holder = holderOf({ ...session, expiresAt: Date.now() + 1000 });
  const api = createApi("http://127.0.0.1:8080", holder, fetch);
  await Promise.all([api.balance.getBalance({}), api.balance.getBalance({})]);
  assert.deepEqual(paths, [
    "/paygate.v1.AuthService/Refresh ",
    "/paygate.v1.BalanceService/GetBalance Bearer at_2",
    "/paygate.v1.BalanceService/GetBalance Bearer at_2",
  ]);
  assert.equal(holder.current?.refreshToken, "rt_2");
  assert.equal(holder.current?.accountId, "acct_1");
});

test("a refused refresh or an UNAUTHENTICATED answer signs the tab out", async () => {
  const refused = holderOf({ ...session, expiresAt: 0 });
  await assert.rejects(createApi("http://h", refused, async () => grpcWeb(null, 16)).balance.getBalance({}));
  assert.equal(refused.current, null);
  const revoked = holderOf(session);
  await assert.rejects(createApi("http://h", revoked, async () => grpcWeb(null, 16)).balance.getBalance({}));
  assert.equal(revoked.current, null);
  const denied = holderOf(session);
  await assert.rejects(createApi("http://h", denied, async () => grpcWeb(null, 7)).balance.getBalance({}));
  assert.equal(denied.current, session); // PERMISSION_DENIED is not the session's end
});

test("a session acts in the account asked for, with the role the user has there", () => {
  const answer = create(auth.SessionSchema, {
    accessToken: "a", refreshToken: "r", expiresIn: 60n, user: { email: "u@x.y" },
    accounts: [
      { account: { id: "acct_1", name: "One" }, role: apiKeys.Role.OWNER },
      { account: { id: "acct_2", name: "Two" }, role: apiKeys.Role.STAFF },
    ],
  });
  const made = sessionFrom(answer, "acct_2");
  assert.equal(made.accountId, "acct_2");
  assert.deepEqual(made.accounts[1], { accountId: "acct_2", accountName: "Two", role: "STAFF" });
  assert.equal(sessionFrom(answer, "acct_9").accountId, "acct_1");
});
