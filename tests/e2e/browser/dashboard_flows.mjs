// The merchant dashboard in headless Chromium (Debian's `chromium`, driven by
// playwright-core from npm), against a real gateway. Run by
// tests/e2e/test_dashboard_browser.py, which starts the gateway and checks the outcome on
// the server:
//
//   node tests/e2e/browser/dashboard_flows.mjs CONFIG.json RESULTS.json
//
// CONFIG: {chromium, artifacts, baseUrl, receiverUrl, owner: {email, password, business}, staff: {...}}
// RESULTS: {ok, error, steps: {...}, console: [...]}
//
// One story, in order, as a merchant lives it: the owner signs up, makes a key, pays
// through the API with it (as the merchant's server would: plain HTTP over loopback),
// has its webhooks sent to a receiver on loopback that fails until told otherwise (and
// retries one from the delivery log), sees the payment, refunds it from its page and sees
// the balance change, invites a colleague as STAFF (revoking a first invitation, listing
// the second as pending), revokes the key (the next request with it is 401), switches to
// live mode (no test payment there, a live key made) and back, and signs out. The
// colleague finds the revoked invitation's link refused, accepts the other, sees no refund
// button, and the API refuses the refund their session asks for anyway. The owner, back,
// finds no invitation pending. Each page is screenshotted.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { launch, withTimeout } from "./common.mjs";

const [configPath, resultsPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(config.artifacts, { recursive: true });

const TIMEOUT = 20_000;
const RUN_TIMEOUT = 240_000;
const dashboard = `${config.baseUrl}/dashboard`;
const steps = {};
const consoleErrors = [];

function shot(page, name) {
  return page.screenshot({ path: path.join(config.artifacts, `${name}.png`), fullPage: true });
}

// The merchant's server: the REST API with a secret key.
async function rest(method, route, key, body, extraHeaders = {}) {
  const response = await fetch(`${config.baseUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...extraHeaders },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => null) };
}

async function open(page, view) {
  await page.goto(`${dashboard}#/${view}`);
}

async function text(locator) {
  await locator.first().waitFor({ timeout: TIMEOUT });
  return (await locator.first().textContent()).trim();
}

// The sign-up form, from wherever the page is on it.
async function signUp(page, who) {
  await page.getByLabel("Business name").fill(who.business);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(who.password);
  await shot(page, `${who.name}-01-signup`);
  await page.getByRole("button", { name: "Create account" }).click();
}

async function owner(page) {
  await open(page, "signup");
  await signUp(page, { ...config.owner, name: "owner" });
  await page.getByRole("heading", { name: /^Overview/ }).waitFor();
  await page.getByRole("status").filter({ hasText: "No payments in" }).waitFor();
  steps.testModeBanner = await text(page.getByRole("note"));
  steps.checklist = await text(page.getByRole("region", { name: "Get started" }));
  await shot(page, "owner-02-overview-empty");

  // The business profile.
  await open(page, "settings");
  await page.getByLabel("Support email").fill(config.owner.email);
  await page.getByLabel("Statement descriptor").fill("OWNER SHOP");
  await page.getByLabel("Accepted currencies (comma-separated)").fill("EUR, USD");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("status").filter({ hasText: "Business profile saved" }).waitFor();
  await page.getByRole("region", { name: "Audit events" }).getByText("account.profile_update").waitFor();
  steps.auditActions = await page.getByRole("region", { name: "Audit events" }).innerText();
  await shot(page, "owner-03-settings");

  // A secret key, shown once.
  await open(page, "developers/keys");
  await page.getByLabel("Key role").selectOption("DEVELOPER");
  await page.getByRole("button", { name: "Create key" }).click();
  const secret = await text(page.getByTestId("secret-value"));
  steps.keyPrefix = secret.slice(0, 16); // the key's lookup prefix, as lists show it
  await shot(page, "owner-04-api-key-created");
  await page.getByRole("button", { name: "Done" }).click();

  // A webhook endpoint: the test's receiver on loopback, which answers 500 for now.
  await open(page, "developers/webhooks");
  await page.getByLabel("Endpoint URL").fill(`${config.receiverUrl}/hooks`);
  await page.getByRole("button", { name: "Add endpoint" }).click();
  steps.webhookSecretPrefix = (await text(page.getByTestId("secret-value"))).slice(0, 6);
  await shot(page, "owner-05-webhook-created");
  await page.getByRole("button", { name: "Done" }).click();

  // The merchant's server pays with it.
  const token = await rest("POST", "/v1/tokens", secret, {
    card: { number: "4242424242424242", exp_month: 12, exp_year: 2040, cvc: "123" },
  });
  const created = await rest("POST", "/v1/payment_intents", secret, { amount: 2500, currency: "eur", description: "Order 1001" });
  const intentId = created.body.id;
  const confirmed = await rest("POST", `/v1/payment_intents/${intentId}/confirm`, secret, { payment_method: token.body.id }, { "idempotency-key": `confirm-${intentId}` });
  steps.payment = { id: intentId, tokenStatus: token.status, status: confirmed.body?.status };
  steps.keyWorks = (await rest("GET", "/v1/balance", secret)).status;

  // The overview and the list show it.
  await open(page, "overview");
  steps.overviewVolume = await text(page.getByTestId("volume"));
  steps.overviewSuccessRate = await text(page.getByTestId("success-rate"));
  await shot(page, "owner-06-overview");
  await open(page, "payments");
  await page.getByRole("link", { name: intentId }).waitFor();
  await shot(page, "owner-07-payments");
  await open(page, "payments?status=7");
  await page.getByRole("status").filter({ hasText: "No test payments with this status" }).waitFor();
  steps.filteredEmpty = true;

  await open(page, "balance");
  steps.balanceBefore = await text(page.getByTestId("pending"));
  steps.availableBefore = await text(page.getByTestId("available"));
  await shot(page, "owner-08-balance-before");

  // Search by id opens the payment; refund it there.
  await open(page, "payments");
  await page.getByLabel("Search by payment id").fill(intentId);
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByRole("heading", { name: "Payment" }).waitFor();
  await page.getByRole("button", { name: "Refund" }).waitFor();
  await shot(page, "owner-09-payment-detail");
  await page.getByRole("button", { name: "Refund" }).click();
  await page.getByRole("status").filter({ hasText: "Refund created" }).waitFor();
  await page.getByTestId("refunded").filter({ hasText: "25.00" }).waitFor();
  steps.refunded = await text(page.getByTestId("refunded"));
  steps.timeline = await text(page.getByRole("list", { name: "Timeline" }));
  await shot(page, "owner-10-payment-refunded");

  await open(page, "balance");
  await page.getByTestId("pending").waitFor();
  steps.balanceAfter = await text(page.getByTestId("pending"));
  steps.availableAfter = await text(page.getByTestId("available"));
  await shot(page, "owner-11-balance-after");
  await open(page, "overview");
  steps.overviewNetAfterRefund = await text(page.getByTestId("net"));

  // The other pages, as this merchant sees them.
  for (const [view, name] of [
    ["settlements", "owner-12-settlements"],
    ["payouts", "owner-13-payouts"],
    ["disputes", "owner-14-disputes"],
  ]) {
    await open(page, view);
    await page.getByRole("region").first().waitFor();
    await page.locator('[aria-busy="true"]').waitFor({ state: "detached" }).catch(() => {});
    await shot(page, name);
  }

  // The delivery log: the payment's events failed at the receiver; once it answers
  // again, Retry sends one and the log shows it delivered.
  await open(page, "developers/webhooks");
  await page.getByRole("button", { name: "Deliveries" }).click();
  const deliveries = page.getByRole("region", { name: "Deliveries" });
  await deliveries.getByText("HTTP 500").first().waitFor();
  await shot(page, "owner-15-webhooks");
  steps.receiverHits = (await (await fetch(`${config.receiverUrl}/ok`)).json()).hits;
  const failing = deliveries.locator("tbody tr").filter({ has: page.getByRole("button", { name: /^Retry / }) }).first();
  const retried = (await failing.locator("td").first().textContent()).trim();
  await failing.getByRole("button", { name: /^Retry / }).click();
  await page.getByRole("status").filter({ hasText: "queued again" }).waitFor();
  const row = deliveries.locator("tbody tr").filter({ hasText: retried });
  for (let i = 0; i < 40 && (await row.getByText("Succeeded").count()) === 0; i++) {
    await page.waitForTimeout(500);
    await page.getByRole("button", { name: "Refresh" }).click();
  }
  steps.deliveredAfterRetry = (await row.getByText("Succeeded").count()) === 1;
  await shot(page, "owner-16-webhook-retried");

  // The guide: test keys made for it fill its samples; the create-intent sample is
  // handed to the test, which runs it.
  await open(page, "developers/docs");
  await page.getByRole("button", { name: "Create test keys for these samples" }).click();
  await page.getByRole("status").filter({ hasText: "Test keys created" }).waitFor();
  steps.guideSample = await text(page.locator('[data-sample="create-intent"]'));
  steps.guideRedirectSample = await text(page.locator('[data-sample="redirect"]'));
  await page.getByRole("group").first().waitFor().catch(() => {});
  await page.getByRole("heading", { name: "PaymentIntent" }).waitFor();
  await page.getByLabel("Filter endpoints").fill("refunds");
  steps.referenceRefunds = await page.locator(".endpoint").count();
  await shot(page, "owner-17-docs");

  // A colleague, invited as STAFF: a first invitation revoked (its link must be refused),
  // then a second one, listed as pending.
  await open(page, "team");
  const pending = page.getByRole("region", { name: "Pending invitations" });
  await pending.getByRole("status").filter({ hasText: "No pending invitations" }).waitFor();
  const invite = async () => {
    await page.getByLabel("Invitee email").fill(config.staff.email);
    await page.getByLabel("Invitee role").selectOption("STAFF");
    await page.getByRole("button", { name: "Invite", exact: true }).click();
    await page.getByRole("status").filter({ hasText: `Invitation for ${config.staff.email} created` }).waitFor();
    return text(page.getByTestId("invitation-link"));
  };
  steps.revokedInvitationLink = await invite();
  page.once("dialog", (dialog) => dialog.accept());
  await pending.getByRole("button", { name: `Revoke invitation of ${config.staff.email}` }).click();
  await page.getByRole("status").filter({ hasText: "revoked: its link no longer works" }).waitFor();
  await pending.getByRole("status").filter({ hasText: "No pending invitations" }).waitFor();
  steps.invitationLink = await invite();
  await pending.getByRole("cell", { name: config.staff.email, exact: true }).waitFor();
  steps.pendingBefore = await pending.innerText();
  await shot(page, "owner-18-team-invited");

  // Revoke the key: the merchant's server is refused at once by every API process, not
  // within the key cache's 5 s (Envoy takes them in turn: several calls reach each).
  steps.keyStatusesBeforeRevoke = [];
  for (let i = 0; i < 6; i++) { // each process has the key in its cache
    steps.keyStatusesBeforeRevoke.push((await rest("GET", "/v1/balance", secret)).status);
  }
  await open(page, "developers/keys");
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: new RegExp(`^Revoke ${steps.keyPrefix}`) }).click();
  await page.getByRole("status").filter({ hasText: "revoked" }).waitFor();
  // The notification reaches the other process milliseconds after the commit: a short
  // bounded wait until both refuse, then six calls in a row.
  for (let i = 0; i < 20; i++) {
    const first = (await rest("GET", "/v1/balance", secret)).status;
    const second = (await rest("GET", "/v1/balance", secret)).status;
    if (first === 401 && second === 401) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  steps.revokedKeyStatuses = [];
  for (let i = 0; i < 6; i++) {
    steps.revokedKeyStatuses.push((await rest("GET", "/v1/balance", secret)).status);
  }
  await shot(page, "owner-19-api-key-revoked");

  // Live mode: the switch leaves the test data behind (the API shows live objects only),
  // the page loses its test-mode banner, and keys made there are live keys.
  await page.getByRole("switch", { name: "Test mode" }).uncheck();
  await page.getByText("Live mode", { exact: true }).waitFor();
  steps.liveBanners = await page.getByRole("note").count();
  steps.liveShell = await page.locator(".shell").getAttribute("class");
  await open(page, "payments");
  steps.livePayments = await text(page.getByRole("region", { name: "Payments" }).getByRole("status"));
  await shot(page, "owner-20-live-payments");
  await open(page, "developers/keys");
  await page.getByRole("region", { name: "API keys" }).getByRole("status").waitFor();
  await page.getByLabel("Key role").selectOption("DEVELOPER");
  await page.getByRole("button", { name: "Create key" }).click();
  const liveKey = await text(page.getByTestId("secret-value"));
  steps.liveKeyPrefix = liveKey.slice(0, 8);
  await shot(page, "owner-21-live-key-created");
  await page.getByRole("button", { name: "Done" }).click();
  // The live key pays; the balance page in live mode shows that live money only.
  const liveToken = await rest("POST", "/v1/tokens", liveKey, {
    card: { number: "4242424242424242", exp_month: 12, exp_year: 2040, cvc: "123" },
  });
  const liveIntent = await rest("POST", "/v1/payment_intents", liveKey, { amount: 3000, currency: "eur" });
  const liveConfirmed = await rest("POST", `/v1/payment_intents/${liveIntent.body.id}/confirm`, liveKey, { payment_method: liveToken.body.id }, { "idempotency-key": `confirm-${liveIntent.body.id}` });
  steps.livePayment = liveConfirmed.body?.status;
  await open(page, "balance");
  await page.getByTestId("pending").waitFor();
  steps.livePending = await text(page.getByTestId("pending"));
  steps.liveKeyBalance = (await rest("GET", "/v1/balance", liveKey)).body;
  await shot(page, "owner-21b-live-balance");
  // The live key does not see the test payment; back in test mode the page does.
  steps.liveKeyReadsTestPayment = (await rest("GET", `/v1/payment_intents/${intentId}`, liveKey)).status;
  await page.getByRole("switch", { name: "Test mode" }).check();
  await open(page, "payments");
  await page.getByRole("link", { name: intentId }).waitFor();
  steps.testBannerAgain = await text(page.getByRole("note"));
  await shot(page, "owner-22-test-mode-again");

  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  await shot(page, "owner-23-signed-out");
  steps.signedOut = await page.evaluate(() => sessionStorage.length === 0);
}

async function staff(page) {
  // The link from the invitation, opened signed out: sign up from it, come back to it,
  // accept it, and the dashboard acts in that account.
  // The revoked invitation's link first: refused.
  await page.goto(steps.revokedInvitationLink);
  await page.getByRole("link", { name: "Create an account" }).click();
  await signUp(page, { ...config.staff, name: "staff" });
  await page.getByRole("button", { name: "Accept invitation" }).click();
  steps.revokedLinkRefused = await text(page.getByRole("alert"));
  await shot(page, "staff-02-revoked-link-refused");
  await page.goto(steps.invitationLink);
  await page.getByRole("button", { name: "Accept invitation" }).click();
  await page.getByRole("heading", { name: `Overview: ${config.owner.business}` }).waitFor();
  steps.staffRole = await text(page.getByText(/^Role: /));
  steps.staffAccounts = await page.getByLabel("Account").locator("option").count();
  steps.staffNav = await page.getByRole("navigation", { name: "Sections" }).innerText();
  await shot(page, "staff-03-joined");

  await open(page, `payments/${steps.payment.id}`);
  await page.getByTestId("amount").waitFor();
  steps.staffRefundButtons = await page.getByRole("button", { name: "Refund" }).count();
  steps.staffCancelButtons = await page.getByRole("button", { name: /Capture|Cancel payment/ }).count();
  await shot(page, "staff-04-payment-no-refund");

  // The API refuses what the page does not offer.
  const session = await page.evaluate(() => JSON.parse(sessionStorage.getItem("paygate.dashboard.session")));
  const refused = await fetch(`${config.baseUrl}/v1/refunds`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${session.accessToken}`,
      "paygate-account": session.accountId,
      "content-type": "application/json",
    },
    body: JSON.stringify({ payment_intent: steps.payment.id, amount: 100 }),
  });
  steps.staffRefundStatus = refused.status;
  steps.staffRefundReason = (await refused.json()).details?.[0]?.reason ?? "";

  // Back to their own account.
  await page.getByLabel("Account").selectOption({ label: config.staff.business });
  await page.getByRole("heading", { name: `Overview: ${config.staff.business}` }).waitFor();
  await shot(page, "staff-05-own-account");
}

async function ownerAgain(page) {
  // The accepted invitation is no longer pending.
  await open(page, "login");
  await page.getByLabel("Email").fill(config.owner.email);
  await page.getByLabel("Password").fill(config.owner.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: /^Overview/ }).waitFor();
  await open(page, "team");
  const pending = page.getByRole("region", { name: "Pending invitations" });
  steps.pendingAfter = await text(pending.getByRole("status"));
  // The members table renders its header before its rows arrive: wait for the member.
  const members = page.getByRole("region", { name: "Members" });
  await members.getByText(config.staff.email).first().waitFor({ timeout: TIMEOUT });
  steps.membersAfter = await members.innerText();
  await shot(page, "owner-24-team-after-join");
}


const browser = await launch(config.chromium, TIMEOUT);
let result = { ok: true };
let page;
try {
  await withTimeout(
    (async () => {
      for (const [name, story] of [["owner", owner], ["staff", staff], ["owner-again", ownerAgain]]) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(TIMEOUT);
        page = await context.newPage();
        page.on("console", (m) => m.type() === "error" && consoleErrors.push({ story: name, text: m.text() }));
        page.on("pageerror", (e) => consoleErrors.push({ story: name, text: String(e) }));
        await story(page);
        await context.close();
      }
    })(),
    RUN_TIMEOUT,
  );
} catch (error) {
  if (page) await shot(page, "FAILED").catch(() => {});
  result = { ok: false, error: String(error?.message ?? error).slice(0, 2000), url: page?.url() };
} finally {
  await browser.close();
}
writeFileSync(resultsPath, JSON.stringify({ ...result, steps, console: consoleErrors }, null, 2));
