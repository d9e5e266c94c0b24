// The developer docs: the guide's samples carry the merchant's keys safely quoted, its
// webhook verifier accepts exactly what Standard Webhooks signs, and the API reference's
// model is read from the real docs/openapi.json.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { PUBLISHABLE_PLACEHOLDER, SECRET_PLACEHOLDER, VERIFY_WEBHOOK, htmlAttribute, samples, shellQuote } from "../src/guide";
import { fieldsOf, filterGroups, groupsOf, typeName, type OpenApi } from "../src/openapi";

const keys = { baseUrl: "http://127.0.0.1:8080/", secretKey: "sk_test_abc", publishableKey: "pk_test_xyz" };

describe("the guide's samples", () => {
  test("use the merchant's keys and this gateway", () => {
    const all = samples(keys);
    const curl = all.find((s) => s.id === "create-intent")!.text;
    assert.match(curl, /^curl -s 'http:\/\/127\.0\.0\.1:8080\/v1\/payment_intents'/);
    assert.match(curl, /-H 'Authorization: Bearer sk_test_abc'/);
    const html = all.find((s) => s.id === "checkout-js")!.text;
    assert.match(html, /src="http:\/\/127\.0\.0\.1:8080\/js\/v1\/checkout\.js"/);
    assert.match(html, /Paygate\("pk_test_xyz"\)/);
    assert.ok(all.every((s) => !s.text.includes("YOUR_")));
  });
  test("say where a key goes until the merchant has one", () => {
    const text = samples({ baseUrl: "http://h", secretKey: "", publishableKey: "" }).map((s) => s.text).join("\n");
    assert.ok(text.includes(SECRET_PLACEHOLDER) && text.includes(PUBLISHABLE_PLACEHOLDER));
  });
  test("quote what they embed", () => {
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
    assert.equal(htmlAttribute(`a"<b&`), "a&quot;&lt;b&amp;");
  });
});

describe("the guide's webhook verifier", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "paygate-verify-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, "verify.mjs");
  writeFileSync(file, VERIFY_WEBHOOK);
  const { verifyWebhook } = await import(pathToFileURL(file).href);
  const key = Buffer.from("0123456789abcdef0123456789abcdef");
  const secret = `whsec_${key.toString("base64")}`;
  const body = JSON.stringify({ id: "evt_1", type: "payment_intent.succeeded" });
  const sign = (id: string, ts: number, payload: string, k = key) =>
    `v1,${createHmac("sha256", k).update(`${id}.${ts}.${payload}`).digest("base64")}`;
  const headers = (signature: string, ts = 1_765_000_000) => ({
    "webhook-id": "evt_1", "webhook-timestamp": String(ts), "webhook-signature": signature,
  });

  test("accepts a genuine delivery, also during a rotation (two signatures)", () => {
    const genuine = sign("evt_1", 1_765_000_000, body);
    assert.equal(verifyWebhook(secret, headers(genuine), body, 1_765_000_010).id, "evt_1");
    const other = sign("evt_1", 1_765_000_000, body, Buffer.from("another key, previous secret"));
    assert.equal(verifyWebhook(secret, headers(`${other} ${genuine}`), body, 1_765_000_010).type, "payment_intent.succeeded");
  });
  test("refuses a changed body, another secret, a stale timestamp and missing headers", () => {
    const genuine = sign("evt_1", 1_765_000_000, body);
    assert.throws(() => verifyWebhook(secret, headers(genuine), body.replace("succeeded", "failed"), 1_765_000_010), /bad signature/);
    const forged = sign("evt_1", 1_765_000_000, body, Buffer.from("not the secret"));
    assert.throws(() => verifyWebhook(secret, headers(forged), body, 1_765_000_010), /bad signature/);
    assert.throws(() => verifyWebhook(secret, headers(genuine), body, 1_765_000_000 + 301), /too old/);
    assert.throws(() => verifyWebhook(secret, {}, body), /missing/);
    assert.throws(() => verifyWebhook(secret, headers("v1,short"), body, 1_765_000_000), /bad signature/);
  });
});

describe("the API reference", () => {
  const doc = JSON.parse(readFileSync(path.resolve("docs/openapi.json"), "utf8")) as OpenApi;
  const groups = groupsOf(doc);
  test("groups every route by service", () => {
    const total = groups.reduce((n, g) => n + g.endpoints.length, 0);
    const routes = Object.values(doc.paths).reduce((n, ops) => n + Object.keys(ops).length, 0);
    assert.equal(total, routes);
    const intents = groups.find((g) => g.name === "PaymentIntent")!;
    const create = intents.endpoints.find((e) => e.method === "POST" && e.path === "/v1/payment_intents")!;
    assert.ok(create.authenticated);
    assert.ok(create.errors.includes("400") && create.errors.includes("401"));
    assert.ok(create.parameters.some((p) => p.name === "Idempotency-Key"));
    const login = groups.find((g) => g.name === "Auth")!.endpoints.find((e) => e.path === "/v1/auth/login")!;
    assert.equal(login.authenticated, false);
  });
  test("names request and answer fields, required first", () => {
    const create = groups.find((g) => g.name === "PaymentIntent")!.endpoints.find((e) => e.method === "POST" && e.path === "/v1/payment_intents")!;
    const body = fieldsOf(doc, create.body!);
    assert.ok(body.some((f) => f.name === "amount" && f.type === "string (int64)"));
    const answer = fieldsOf(doc, create.answer!);
    assert.ok(answer.some((f) => f.name === "status" && f.type.startsWith("enum:")));
    assert.ok(answer.some((f) => f.name === "last_payment_error" && f.schema));
  });
  test("types read as words; the filter matches every word", () => {
    assert.equal(typeName(doc, { type: "array", items: { type: "string" } }), "array of string");
    assert.equal(typeName(doc, { $ref: "#/definitions/v1PaymentIntent" }), "PaymentIntent");
    const refunds = filterGroups(groups, "post refunds");
    assert.deepEqual(refunds.flatMap((g) => g.endpoints.map((e) => `${e.method} ${e.path}`)), ["POST /v1/refunds"]);
    assert.deepEqual(filterGroups(groups, "no such thing"), []);
  });
});
