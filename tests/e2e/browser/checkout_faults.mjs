// The hosted checkout when the shopper's confirm meets a fault on the way, in headless
// Chromium (Debian's `chromium`, driven by playwright-core). Run by
// tests/faults/test_checkout_faults.py, which starts a gateway with Envoy's fault filter on
// (PAYGATE_ENVOY_FAULT_INJECTION) and counts the payments afterwards:
//
//   node tests/e2e/browser/checkout_faults.mjs CONFIG.json RESULTS.json
//
// CONFIG: {chromium, artifacts, scenarios: {name: {checkoutUrl, amountText}}}
// RESULTS: {scenarios: {name: {ok, error, url, message, confirms: [{key, status, replayed}],
//           tokenizations}}}
//
// Only the first confirm of a scenario is faulted, by route interception:
//   abort        it carries x-envoy-fault-abort-request: 503 (Envoy answers, the API never
//                sees it);
//   answer_lost  it reaches the gateway and is paid, and the browser gets a 503 instead of
//                the answer (what a proxy that lost the answer sends), and so does the
//                page's read of the intent that follows;
//   answer_lost_read  the same, but the page's read of the intent gets through;
//   delay        it carries x-envoy-fault-delay-request: 3000 (Envoy holds it 3 s).
// The shopper reads the message, presses Pay again, and the page ends on its success (or,
// answer_lost_read and delay, the page ends there by itself).

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { launch, withTimeout } from "./common.mjs";

const [configPath, resultsPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(config.artifacts, { recursive: true });

const TIMEOUT = 20_000;
const SCENARIO_TIMEOUT = 60_000;
const TOKENIZE_PATH = "/paygate.v1.TokenService/CreateToken";
const CONFIRM_PATH = "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent";
const READ_PATH = "/paygate.v1.PaymentIntentService/GetPaymentIntent";
// What a proxy answers when it lost the gateway's answer.
const LOST = { status: 503, contentType: "text/plain", body: "upstream reset" };

const faults = {
  async abort(route) {
    await route.continue({ headers: { ...route.request().headers(), "x-envoy-fault-abort-request": "503" } });
  },
  async answer_lost(route, context) {
    // The page reads the intent after an error: that read is lost too, so the shopper
    // sees only the error and presses Pay again.
    await context.route(`**${READ_PATH}`, (read) => read.fulfill(LOST), { times: 1 });
    await route.fetch(); // the gateway does the payment ...
    await route.fulfill(LOST); // ... and its answer is lost
  },
  // The answer is lost, and the page's read of the intent finds it paid.
  async answer_lost_read(route) {
    await route.fetch();
    await route.fulfill(LOST);
  },
  async delay(route) {
    await route.continue({ headers: { ...route.request().headers(), "x-envoy-fault-delay-request": "3000" } });
  },
};

async function fillCard(page) {
  await page.getByLabel("Card number").fill("4242 4242 4242 4242");
  await page.getByLabel("Expiry").fill("12 / 34");
  await page.getByLabel("CVC").fill("123");
  await page.getByLabel("Name on card").fill("Ada Lovelace");
}

async function paid(page) {
  await page.getByRole("heading", { name: "Payment successful" }).waitFor({ timeout: TIMEOUT });
}

const flows = {
  // The first Pay fails with a message that says to try again; the second pays.
  async retried(page, s, name) {
    await page.goto(s.checkoutUrl);
    const pay = page.getByRole("button", { name: `Pay ${s.amountText}` });
    await pay.waitFor({ timeout: TIMEOUT });
    await fillCard(page);
    await pay.click();
    const alert = page.getByRole("alert").filter({ hasText: /try again/i }).first();
    await alert.waitFor({ timeout: TIMEOUT });
    const message = (await alert.textContent()).trim();
    await page.screenshot({ path: shot(`${name}-error`) });
    await pay.click();
    await paid(page);
    await page.screenshot({ path: shot(`${name}-paid`) });
    return { message };
  },

  // The page finds out by itself that the payment was made: success, and no stale error.
  async found(page, s, name) {
    await page.goto(s.checkoutUrl);
    const pay = page.getByRole("button", { name: `Pay ${s.amountText}` });
    await pay.waitFor({ timeout: TIMEOUT });
    await fillCard(page);
    await pay.click();
    await paid(page);
    await page.screenshot({ path: shot(`${name}-paid`) });
    return { staleError: (await page.locator("#form-error").textContent()).trim() };
  },

  // A confirm held for seconds: the page says it is processing and offers no second Pay.
  async waited(page, s, name) {
    await page.goto(s.checkoutUrl);
    const pay = page.getByRole("button", { name: `Pay ${s.amountText}` });
    await pay.waitFor({ timeout: TIMEOUT });
    await fillCard(page);
    await pay.click();
    const processing = page.getByRole("button", { name: "Processing…" }).first();
    await processing.waitFor({ timeout: TIMEOUT });
    const disabled = await processing.isDisabled();
    await page.screenshot({ path: shot(`${name}-processing`) });
    await paid(page);
    await page.screenshot({ path: shot(`${name}-paid`) });
    return { disabled };
  },
};

function shot(name) {
  return path.join(config.artifacts, `${name}.png`);
}


const browser = await launch(config.chromium, TIMEOUT);
const results = {};
try {
  for (const [name, scenario] of Object.entries(config.scenarios)) {
    const context = await browser.newContext({ viewport: { width: 420, height: 860 } });
    context.setDefaultTimeout(TIMEOUT);
    const confirms = [];
    let tokenizations = 0;
    context.on("request", (request) => {
      if (new URL(request.url()).pathname === TOKENIZE_PATH) tokenizations += 1;
    });
    let faulted = false;
    await context.route(`**${CONFIRM_PATH}`, async (route) => {
      const key = route.request().headers()["idempotency-key"] ?? "";
      if (faulted) {
        const response = await route.fetch();
        confirms.push({ key, status: response.status(), replayed: response.headers()["idempotent-replayed"] ?? "" });
        return route.fulfill({ response });
      }
      faulted = true;
      confirms.push({ key, status: 0, replayed: "", fault: name });
      await faults[name](route, context);
    });
    const page = await context.newPage();
    try {
      const flow = { delay: flows.waited, answer_lost_read: flows.found }[name] ?? flows.retried;
      const detail = await withTimeout(flow(page, scenario, name), SCENARIO_TIMEOUT, name);
      results[name] = { ok: true, ...detail, confirms, tokenizations };
    } catch (error) {
      await page.screenshot({ path: shot(`${name}-FAILED`) }).catch(() => {});
      results[name] = { ok: false, error: String(error?.message ?? error).slice(0, 2000), url: page.url(), confirms, tokenizations };
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
}

writeFileSync(resultsPath, JSON.stringify({ scenarios: results }, null, 2));
