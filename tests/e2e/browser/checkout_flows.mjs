// The hosted checkout and checkout.js in headless Chromium (Debian's `chromium`, driven
// by playwright-core from npm), against a real gateway. Run by
// tests/e2e/test_checkout_browser.py, which starts the gateway, prepares the intents and
// checks the outcome on the server:
//
//   node tests/e2e/browser/checkout_flows.mjs CONFIG.json RESULTS.json
//
// CONFIG: {chromium, artifacts, demoUrl, successUrl, scenarios: {name: {checkoutUrl, ...}}}
// RESULTS: {scenarios: {name: {ok, error, url, ...}}, network: {...}, console: [...]}
//
// Every scenario runs in a fresh browser context with a time limit; the network log of
// every context (pages and frames) is kept to prove that no card number leaves the
// browser except in the tokenization request.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { launch, withTimeout } from "./common.mjs";

const [configPath, resultsPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(config.artifacts, { recursive: true });

const TIMEOUT = 20_000; // any single wait
const SCENARIO_TIMEOUT = 60_000;
const TOKENIZE_PATH = "/paygate.v1.TokenService/CreateToken";
const CONFIRM_PATH = "/paygate.v1.PaymentIntentService/ConfirmPaymentIntent";
const CARDS = {
  ok: "4242424242424242",
  declined: "4000000000000002",
  threeDS: "4000002760003184",
};

const requests = []; // {url, scenario, body: Buffer|null}
const consoleErrors = [];

async function card(frame, number, { expiry = "12 / 34", cvc = "123", name = "Ada Lovelace" } = {}) {
  await frame.getByLabel("Card number").fill(number);
  await frame.getByLabel("Expiry").fill(expiry);
  await frame.getByLabel("CVC").fill(cvc);
  await frame.getByLabel("Name on card").fill(name);
}

async function landsOnSuccess(page, intentId) {
  await page.waitForURL((url) => url.href.startsWith(config.successUrl), { timeout: TIMEOUT });
  const url = new URL(page.url());
  if (url.searchParams.get("payment_intent") !== intentId) throw new Error(`payment_intent is ${url.searchParams.get("payment_intent")}`);
  if (url.searchParams.get("redirect_status") !== "succeeded") throw new Error(`redirect_status is ${url.searchParams.get("redirect_status")}`);
  return url.href;
}

async function expectText(locator, pattern) {
  await locator.filter({ hasText: pattern }).first().waitFor({ timeout: TIMEOUT });
  return (await locator.filter({ hasText: pattern }).first().textContent()).trim();
}

const flows = {
  // 4242 4242 4242 4242, and the browser ends on the merchant's success_url.
  async card_success(page, s) {
    await page.goto(s.checkoutUrl);
    const pay = page.getByRole("button", { name: `Pay ${s.amountText}` });
    await pay.waitFor({ timeout: TIMEOUT });
    const summary = (await page.getByRole("region", { name: "Order summary" }).textContent()).trim();
    await card(page, "4242 4242 4242 4242");
    const brand = (await page.locator(".brand").textContent()).trim();
    await page.screenshot({ path: shot("card_success-filled") });
    await pay.click();
    const url = await landsOnSuccess(page, s.intentId);
    await page.screenshot({ path: shot("card_success-landed") });
    return { url, summary, brand };
  },

  // A declined card: the message, then the same form pays with another card.
  async decline_then_retry(page, s) {
    await page.goto(s.checkoutUrl);
    await card(page, CARDS.declined);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).click();
    const message = await expectText(page.getByRole("alert"), /declined/);
    await page.screenshot({ path: shot("decline-message") });
    const focused = await page.evaluate(() => document.activeElement?.id ?? "");
    await page.getByLabel("Card number").fill(CARDS.ok);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).click();
    const url = await landsOnSuccess(page, s.intentId);
    return { message, focused, url };
  },

  // The 3-D Secure card: the bank's challenge opens in the page; passing it pays.
  async three_ds_pass(page, s) {
    await page.goto(s.checkoutUrl);
    await card(page, CARDS.threeDS);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).click();
    const challenge = page.frameLocator('iframe[title="3-D Secure authentication"]');
    await challenge.getByRole("button", { name: "Complete" }).waitFor({ timeout: TIMEOUT });
    await page.screenshot({ path: shot("three_ds-challenge") });
    await challenge.getByRole("button", { name: "Complete" }).click();
    const url = await landsOnSuccess(page, s.intentId);
    return { url };
  },

  // ... and failing it says so and leaves the form for another try.
  async three_ds_fail(page, s) {
    await page.goto(s.checkoutUrl);
    await card(page, CARDS.threeDS);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).click();
    const challenge = page.frameLocator('iframe[title="3-D Secure authentication"]');
    await challenge.getByRole("button", { name: "Fail" }).click({ timeout: TIMEOUT });
    const message = await expectText(page.getByRole("alert"), /bank could not confirm/);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).waitFor({ timeout: TIMEOUT });
    const challengeGone = (await page.locator('iframe[title="3-D Secure authentication"]').count()) === 0;
    await page.screenshot({ path: shot("three_ds-failed") });
    return { message, challengeGone, url: page.url() };
  },

  // UPI: collect to success@upi; the QR code and deep link show while the status streams.
  async upi_success(page, s) {
    await page.goto(s.checkoutUrl);
    await page.getByRole("tab", { name: "UPI" }).click();
    await page.getByLabel("UPI ID").fill("success@upi");
    await page.getByRole("button", { name: `Pay ${s.amountText} with UPI` }).click();
    const qr = page.getByRole("img", { name: "QR code to pay with a UPI app" });
    await qr.waitFor({ timeout: TIMEOUT });
    const deepLink = await page.getByRole("link", { name: "Open in your UPI app" }).getAttribute("href");
    await page.screenshot({ path: shot("upi-waiting") });
    const url = await landsOnSuccess(page, s.intentId);
    return { url, deepLink };
  },

  // Keyboard only: focus starts in the card number, Tab moves on, Enter pays.
  async keyboard_only(page, s) {
    await page.goto(s.checkoutUrl);
    await page.getByRole("button", { name: `Pay ${s.amountText}` }).waitFor({ timeout: TIMEOUT });
    const order = [];
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute("id") ?? document.activeElement?.tagName);
    order.push(await focused());
    await page.keyboard.type("4242424242424242");
    const typed = await page.getByLabel("Card number").inputValue();
    await page.keyboard.press("Tab");
    order.push(await focused());
    await page.keyboard.type("1234");
    await page.keyboard.press("Tab");
    order.push(await focused());
    await page.keyboard.type("123");
    await page.keyboard.press("Tab");
    order.push(await focused());
    await page.keyboard.type("Ada Lovelace");
    await page.keyboard.press("Tab");
    order.push(await focused());
    await page.screenshot({ path: shot("keyboard-filled") });
    await page.keyboard.press("Enter");
    const url = await landsOnSuccess(page, s.intentId);
    return { order, typed, url };
  },

  // The demo merchant's page: checkout.js opens the checkout in a modal; onSuccess fires;
  // Escape closes the modal (onClose).
  async checkout_js_demo(page) {
    await page.goto(config.demoUrl);
    await page.getByRole("button", { name: "Buy now" }).click();
    const frame = page.frameLocator('iframe[title="Secure checkout"]');
    await frame.getByLabel("Card number").waitFor({ timeout: TIMEOUT });
    await card(frame, "4242 4242 4242 4242");
    await page.screenshot({ path: shot("demo-modal") });
    await frame.getByRole("button", { name: /^Pay / }).click();
    const outcome = await expectText(page.locator("#outcome"), /Thank you! Payment pi_\w+ succeeded/);
    const intentId = await page.locator("#outcome").getAttribute("data-payment-intent");
    await page.screenshot({ path: shot("demo-success") });
    await frame.locator("body").press("Escape");
    await page.locator('iframe[title="Secure checkout"]').waitFor({ state: "detached", timeout: TIMEOUT });
    const buyEnabled = await page.getByRole("button", { name: "Buy now" }).isEnabled();
    return { outcome, intentId, buyEnabled, url: page.url() };
  },

  // The shopper comes back to a checkout that was paid already: no form, no second charge.
  async already_paid(page, s) {
    await page.goto(s.checkoutUrl);
    const heading = await expectText(page.getByRole("heading"), /already been made/);
    const formShown = await page.getByLabel("Card number").isVisible();
    return { heading, formShown, url: page.url() };
  },

  // An intent the merchant canceled.
  async canceled(page, s) {
    await page.goto(s.checkoutUrl);
    const heading = await expectText(page.getByRole("heading"), /canceled/);
    const back = await page.getByRole("link", { name: /^Return to / }).getAttribute("href");
    await page.screenshot({ path: shot("canceled") });
    return { heading, back };
  },

  // An intent that expired before the shopper came.
  async expired(page, s) {
    await page.goto(s.checkoutUrl);
    const heading = await expectText(page.getByRole("heading"), /expired/);
    const formShown = await page.getByLabel("Card number").isVisible();
    await page.screenshot({ path: shot("expired") });
    return { heading, formShown };
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
    context.on("request", (request) => {
      requests.push({ scenario: name, url: request.url(), body: request.postDataBuffer() });
    });
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push({ scenario: name, text: message.text() });
    });
    page.on("pageerror", (error) => consoleErrors.push({ scenario: name, text: String(error) }));
    try {
      const detail = await withTimeout(flows[name](page, scenario), SCENARIO_TIMEOUT, name);
      results[name] = { ok: true, ...detail };
    } catch (error) {
      await page.screenshot({ path: shot(`${name}-FAILED`) }).catch(() => {});
      results[name] = { ok: false, error: String(error?.message ?? error).slice(0, 2000), url: page.url() };
    } finally {
      await context.close();
    }
  }
} finally {
  await browser.close();
}

// Which requests carried a card number, in digits or as typed with spaces.
const network = { requests: requests.length, tokenizations: [], leaks: [], confirms: [] };
for (const request of requests) {
  const text = `${request.url}\n${request.body ? request.body.toString("latin1") : ""}`;
  if (new URL(request.url).pathname === CONFIRM_PATH) {
    // The device fingerprint the checkout sends for the risk engine (docs/risk.md).
    const device = text.match(/dev_[0-9a-f]{32}/);
    network.confirms.push({ scenario: request.scenario, device: device ? device[0] : "" });
  }
  for (const pan of Object.values(CARDS)) {
    const spaced = pan.replace(/(\d{4})(?=\d)/g, "$1 ");
    if (!text.includes(pan) && !text.includes(spaced) && !text.includes(encodeURIComponent(spaced))) continue;
    const where = { scenario: request.scenario, url: request.url, last4: pan.slice(-4) };
    if (new URL(request.url).pathname === TOKENIZE_PATH) network.tokenizations.push(where);
    else network.leaks.push(where);
  }
}

writeFileSync(resultsPath, JSON.stringify({ scenarios: results, network, console: consoleErrors }, null, 2));
