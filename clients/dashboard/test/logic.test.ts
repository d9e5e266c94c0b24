// The dashboard's logic without a browser: amounts, paging, routes, sessions, roles,
// the overview's arithmetic and the payment timeline.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bars, bucketsOf, currenciesByUse, lastDays, linePath, points, successRate } from "../src/charts";
import { methodText } from "../src/method";
import { amountInput, parseAmount } from "../src/money";
import { cursorOf, firstPage, nextPage, pageNumber, previousPage } from "../src/paging";
import { assignableRoles, can } from "../src/permissions";
import { href, parseRoute } from "../src/route";
import { changedFields, profileForm } from "../src/profile";
import { chooseAccount, loadSession, needsRefresh, saveSession, type StoredSession } from "../src/session";
import { isAbout, timelineOf } from "../src/timeline";

const at = (iso: string) => ({ seconds: BigInt(Date.parse(iso) / 1000) });

describe("amounts", () => {
  test("typed amounts become minor units without floats", () => {
    assert.equal(parseAmount("12.5", "usd"), 1250n);
    assert.equal(parseAmount("1,000.05", "EUR"), 100005n);
    assert.equal(parseAmount("500", "JPY"), 500n);
    assert.equal(parseAmount("1.234", "KWD"), 1234n);
    assert.equal(parseAmount("0.1", "USD"), 10n);
    assert.equal(parseAmount("9007199254740993.01", "USD"), 900719925474099301n);
  });
  test("anything else says what is wrong", () => {
    assert.match(parseAmount("1.5", "JPY") as string, /no minor unit/);
    assert.match(parseAmount("1.001", "USD") as string, /At most 2 digits/);
    assert.match(parseAmount("-3", "USD") as string, /Enter an amount/);
    assert.match(parseAmount("abc", "USD") as string, /Enter an amount/);
    assert.match(parseAmount("0.00", "USD") as string, /more than zero/);
  });
  test("minor units back to an input's text", () => {
    assert.equal(amountInput(1250n, "USD"), "12.50");
    assert.equal(amountInput(5n, "USD"), "0.05");
    assert.equal(amountInput(500n, "JPY"), "500");
    assert.equal(amountInput(1234n, "KWD"), "1.234");
  });
});

describe("paging", () => {
  test("next starts after the last row, previous goes back without a backwards cursor", () => {
    let pager = firstPage();
    assert.equal(cursorOf(pager), "");
    pager = nextPage(pager, "pi_2");
    pager = nextPage(pager, "pi_4");
    assert.equal(cursorOf(pager), "pi_4");
    assert.equal(pageNumber(pager), 3);
    pager = previousPage(pager);
    assert.equal(cursorOf(pager), "pi_2");
    assert.equal(pageNumber(previousPage(previousPage(pager))), 1);
    assert.equal(nextPage(pager, undefined), pager);
  });
});

describe("routes", () => {
  test("the fragment holds the view and its query", () => {
    const route = parseRoute("#/payments/pi_1?status=6");
    assert.deepEqual(route.parts, ["payments", "pi_1"]);
    assert.equal(route.query.get("status"), "6");
    assert.deepEqual(parseRoute("").parts, []);
    assert.deepEqual(parseRoute("#/x/%E0%A4%A").parts, ["x", "%E0%A4%A"]);
  });
  test("links encode their parts and leave empty filters out", () => {
    assert.equal(href(["payments"], { status: "" }), "#/payments");
    assert.equal(href(["invitations", "accept"], { token: "a b&c" }), "#/invitations/accept?token=a+b%26c");
    assert.equal(href(["a/b"]), "#/a%2Fb");
  });
});

describe("sessions", () => {
  const accounts = [
    { accountId: "acct_1", accountName: "One", role: "OWNER" },
    { accountId: "acct_2", accountName: "Two", role: "STAFF" },
  ];
  const session: StoredSession = {
    accessToken: "t", refreshToken: "r", expiresAt: 1_000_000, email: "a@b.c", accounts, accountId: "acct_2",
  };
  test("the account asked for, else the last one used, else the first", () => {
    assert.equal(chooseAccount(accounts, "acct_2"), "acct_2");
    assert.equal(chooseAccount(accounts, "acct_9", "acct_2"), "acct_2");
    assert.equal(chooseAccount(accounts, "acct_9", "acct_8"), "acct_1");
    assert.equal(chooseAccount([], "acct_1"), "");
  });
  test("refreshed a minute before the access token expires", () => {
    assert.equal(needsRefresh(session, 1_000_000 - 60_001), false);
    assert.equal(needsRefresh(session, 1_000_000 - 60_000), true);
  });
  test("kept per tab, and a damaged entry is a signed-out tab", () => {
    const items = new Map<string, string>();
    const store = {
      getItem: (k: string) => items.get(k) ?? null,
      setItem: (k: string, v: string) => void items.set(k, v),
      removeItem: (k: string) => void items.delete(k),
    };
    saveSession(store, session);
    assert.deepEqual(loadSession(store), session);
    saveSession(store, null);
    assert.equal(loadSession(store), null);
    items.set("paygate.dashboard.session", "{not json");
    assert.equal(loadSession(store), null);
  });
});

describe("roles", () => {
  test("buttons follow the role's permissions", () => {
    assert.equal(can("OWNER", "refunds:write"), true);
    assert.equal(can("MANAGER", "refunds:write"), true);
    assert.equal(can("STAFF", "refunds:write"), false);
    assert.equal(can("STAFF", "payments:read"), true);
    assert.equal(can("DEVELOPER", "payouts:write"), false);
    assert.equal(can("NOBODY", "payments:read"), false);
    assert.equal(can(undefined, "payments:read"), false);
  });
  test("only an owner hands out OWNER; roles without members:write hand out nothing", () => {
    assert.ok(assignableRoles("OWNER").includes("OWNER"));
    assert.deepEqual(assignableRoles("ADMIN"), ["ADMIN", "DEVELOPER", "MANAGER", "STAFF"]);
    assert.deepEqual(assignableRoles("STAFF"), []);
  });
});

describe("the overview", () => {
  test("the last days are whole UTC days, today included, the end exclusive", () => {
    const range = lastDays(new Date("2026-03-10T15:00:00Z"), 30);
    assert.equal(range.start.toISOString(), "2026-02-09T00:00:00.000Z");
    assert.equal(range.end.toISOString(), "2026-03-11T00:00:00.000Z");
    const midnight = lastDays(new Date("2026-03-10T00:00:00Z"), 1);
    assert.equal(midnight.start.toISOString(), "2026-03-10T00:00:00.000Z");
  });
  test("the analytics API's buckets become chart buckets", () => {
    const [bucket] = bucketsOf([
      { start: at("2026-03-10T00:00:00Z"), figures: { payments: 3n, succeeded: 2n, failed: 1n, volume: 4200n } },
    ]);
    assert.deepEqual(bucket, { start: new Date("2026-03-10T00:00:00Z"), payments: 3, succeeded: 2, failed: 1, volume: 4200n });
    assert.equal(bucketsOf([{}])[0].volume, 0n);
  });
  test("no attempt is no rate, not 0 %", () => {
    assert.equal(successRate({ succeeded: 0, failed: 0 }), null);
    assert.equal(successRate({ succeeded: 1, failed: 3 }), 0.25);
  });
  test("currencies by use, most used first", () => {
    assert.deepEqual(currenciesByUse([{ currency: "eur" }, { currency: "usd" }, { currency: "EUR" }]), ["EUR", "USD"]);
  });
  test("bars fill the box; all zeros draw nothing", () => {
    const drawn = bars([0, 5, 10], 300, 100, 0);
    assert.deepEqual(drawn.map((b) => b.height), [0, 50, 100]);
    assert.deepEqual(drawn.map((b) => b.x), [0, 100, 200]);
    assert.ok(bars([0, 0], 100, 50).every((b) => b.height === 0));
  });
  test("the rate line breaks where a day has no attempt", () => {
    assert.equal(linePath([1, 0.5, null, 0], 300, 100), "M0.0 0.0 L100.0 50.0 M300.0 100.0");
    assert.deepEqual(points([null, 1], 100, 10), [null, { x: 100, y: 0 }]);
  });
});

describe("the payment timeline", () => {
  const intent = { id: "pi_1", created: at("2026-03-10T10:00:00Z"), canceledAt: undefined, cancellationReason: "" };
  test("the events about this payment, newest first, same-second ones by id", () => {
    const events = [
      { id: "evt_01", type: "payment_intent.created", created: at("2026-03-10T10:00:00Z"), data: { object: { id: "pi_1" } } },
      { id: "evt_02", type: "payment_intent.succeeded", created: at("2026-03-10T10:00:00Z"), data: { object: { id: "pi_1" } } },
      { id: "evt_03", type: "refund.created", created: at("2026-03-10T11:00:00Z"), data: { object: { id: "re_1", payment_intent: "pi_1" } } },
      { id: "evt_04", type: "payment_intent.created", created: at("2026-03-10T12:00:00Z"), data: { object: { id: "pi_2" } } },
    ];
    const entries = timelineOf(intent, [], events);
    assert.deepEqual(entries.map((e) => e.title), ["Refund created", "Payment succeeded", "Payment created"]);
    assert.equal(entries[0].detail, "re_1");
    assert.equal(isAbout(events[3], "pi_1"), false);
  });
  test("a decline says why", () => {
    const failed = {
      id: "evt_9", type: "payment_intent.payment_failed", created: at("2026-03-10T10:00:00Z"),
      data: { object: { id: "pi_1", last_payment_error: { decline_code: "insufficient_funds", message: "Declined" } } },
    };
    assert.equal(timelineOf(intent, [], [failed])[0].detail, "insufficient_funds: Declined");
  });
  test("without events (a role that may not read them), the intent and its refunds tell it", () => {
    const refunds = [{ id: "re_1", created: at("2026-03-10T11:00:00Z"), amount: 100n, currency: "USD" }];
    const canceled = { ...intent, canceledAt: at("2026-03-10T12:00:00Z"), cancellationReason: "duplicate" };
    assert.deepEqual(timelineOf(canceled, refunds, []).map((e) => e.title), ["Payment canceled", "Refund created", "Payment created"]);
  });
});

describe("the business profile form", () => {
  const profile = {
    businessName: "Shop", statementDescriptor: "SHOP", supportEmail: "", supportUrl: "", country: "DE",
    acceptedCurrencies: ["EUR", "USD"], defaultCaptureMethod: 0, brandingColor: "", logoUrl: "",
  };
  test("shows every field as text, automatic capture by default", () => {
    const form = profileForm(profile);
    assert.equal(form.acceptedCurrencies, "EUR, USD");
    assert.equal(form.defaultCaptureMethod, "1");
  });
  test("sends the changed fields only, named as the API names them", () => {
    const before = profileForm(profile);
    const after = { ...before, supportEmail: " help@shop.example ", acceptedCurrencies: "eur, usd, inr", country: "DE " };
    const { profile: sent, mask } = changedFields(before, after);
    assert.deepEqual(mask, ["support_email", "accepted_currencies"]);
    assert.equal(sent.supportEmail, "help@shop.example");
    assert.deepEqual(sent.acceptedCurrencies, ["EUR", "USD", "INR"]);
    assert.deepEqual(changedFields(before, before).mask, []);
  });
});

describe("payment method", () => {
  test("a line for each type, from the intent's payment_method_details", () => {
    const card = { type: "card", details: { case: "card" as const, value: { brand: "visa", last4: "4242" } } };
    assert.equal(methodText(card), "Visa •••• 4242");
    const wallet = { type: "wallet", details: { case: "wallet" as const, value: { provider: "paytm", name: "Paytm" } } };
    assert.equal(methodText(wallet), "Paytm wallet");
    const bank = { type: "netbanking", details: { case: "netbanking" as const, value: { bank: "HDFC", name: "HDFC Bank" } } };
    assert.equal(methodText(bank), "Net banking, HDFC Bank (HDFC)");
    const upi = { type: "upi", details: { case: "upi" as const, value: { vpa: "buyer@upi" } } };
    assert.equal(methodText(upi), "UPI buyer@upi");
  });
  test("nothing before the first attempt", () => {
    assert.equal(methodText(undefined), "");
  });
});
