// The hosted checkout's Wallet and Net banking tabs in headless Chromium (Debian's
// `chromium`, driven by playwright-core from npm), against a real gateway and its PSP
// role's wallet and bank pages. Run by tests/e2e/test_checkout_redirect_browser.py, which
// starts the gateway, prepares the intents and checks the outcome on the server:
//
//   node tests/e2e/browser/redirect_flows.mjs CONFIG.json RESULTS.json
//
// CONFIG: {chromium, artifacts, scenarios: {name: {checkoutUrl, intentId, amountText,
//          method: "wallet"|"netbanking", choice, identity, decision: "approve"|"decline"}}}
// RESULTS: {scenarios: {name: {ok, error, url, ...}}, console: [...], failedResponses: [...]}
//
// The shopper picks the tab by its accessible name, chooses the wallet or bank, pays,
// follows "Continue to your wallet/bank" to the provider's page (a new tab: the checkout
// opens it with target=_blank), answers there with a test identity
// (docs/wallets-and-netbanking.md), and comes back to the checkout's tab, which follows
// the intent by itself until it shows the outcome.

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const [configPath, resultsPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
mkdirSync(config.artifacts, { recursive: true });

const TIMEOUT = 20_000; // any single wait on a page
// The worker's poller asks the provider about attempts untouched for 5 s, every 2 s:
// the outcome reaches the checkout some seconds after the shopper's answer.
const OUTCOME_TIMEOUT = 45_000;
const SCENARIO_TIMEOUT = 90_000;

const METHODS = {
  wallet: {
    tab: "Wallet", select: "Wallet", pay: (amount) => `Pay ${amount} with your wallet`,
    away: "Continue to your wallet", login: "Wallet mobile number", decline: "Decline",
  },
  netbanking: {
    tab: "Net banking", select: "Bank", pay: (amount) => `Pay ${amount} by net banking`,
    away: "Continue to your bank", login: "Customer ID", decline: "Cancel",
  },
};

const consoleErrors = [];
const failedResponses = []; // {scenario, url, status}: what a "Failed to load resource" was

function shot(name) {
  return path.join(config.artifacts, `${name}.png`);
}

async function redirectFlow(name, page, s) {
  const m = METHODS[s.method];
  await page.goto(s.checkoutUrl);
  const tab = page.getByRole("tab", { name: m.tab });
  await tab.click();
  const selected = await tab.getAttribute("aria-selected");
  const panel = page.getByRole("tabpanel");
  await panel.getByLabel(m.select).selectOption(s.choice);
  await page.screenshot({ path: shot(`${name}-chosen`) });
  await page.getByRole("button", { name: m.pay(s.amountText) }).click();

  // The provider's page, opened in a tab of its own.
  const away = page.getByRole("link", { name: m.away });
  await away.waitFor({ timeout: TIMEOUT });
  const waiting = (await page.getByRole("status").textContent()).trim();
  await page.screenshot({ path: shot(`${name}-waiting`) });
  const [provider] = await Promise.all([page.context().waitForEvent("page"), away.click()]);
  await provider.waitForLoadState();
  const providerUrl = provider.url();
  const providerTitle = await provider.getByRole("heading", { level: 1 }).textContent();
  await provider.getByLabel(m.login).fill(s.identity);
  await provider.screenshot({ path: shot(`${name}-provider`) });
  const button = s.decision === "approve" ? "Approve" : m.decline;
  await provider.getByRole("button", { name: button }).click();
  await provider.waitForLoadState();
  const providerSays = (await provider.locator("#status").textContent({ timeout: TIMEOUT })).trim();
  await provider.screenshot({ path: shot(`${name}-provider-answered`) });
  await provider.close();

  // Back on the checkout: it learns the outcome by itself.
  await page.bringToFront();
  if (s.decision === "approve" && s.expect === "success") {
    const heading = page.getByRole("heading", { name: "Payment successful" });
    await heading.waitFor({ timeout: OUTCOME_TIMEOUT });
    const text = (await page.locator(".result").textContent()).trim();
    await page.screenshot({ path: shot(`${name}-succeeded`) });
    return { selected, waiting, providerUrl, providerTitle, providerSays, heading: "Payment successful", text, url: page.url() };
  }
  const alert = page.getByRole("alert").filter({ hasText: /Try again/ });
  await alert.waitFor({ timeout: OUTCOME_TIMEOUT });
  const message = (await alert.textContent()).trim();
  // The tabs are back for another method, and the one that failed is still chosen.
  const tabsBack = await page.getByRole("tab", { name: m.tab }).isVisible();
  await page.screenshot({ path: shot(`${name}-failed`) });
  return { selected, waiting, providerUrl, providerTitle, providerSays, message, tabsBack, url: page.url() };
}

function withTimeout(promise, ms, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
  timeout: TIMEOUT,
});
const results = {};
try {
  for (const [name, scenario] of Object.entries(config.scenarios)) {
    const context = await browser.newContext({ viewport: { width: 420, height: 860 } });
    context.setDefaultTimeout(TIMEOUT);
    const page = await context.newPage();
    page.on("console", (message) => {
      if (message.type() === "error") consoleErrors.push({ scenario: name, text: message.text() });
    });
    page.on("pageerror", (error) => consoleErrors.push({ scenario: name, text: String(error) }));
    page.on("response", (response) => {
      if (response.status() >= 400) failedResponses.push({ scenario: name, url: response.url(), status: response.status() });
    });
    try {
      const detail = await withTimeout(redirectFlow(name, page, scenario), SCENARIO_TIMEOUT, name);
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

writeFileSync(resultsPath, JSON.stringify({ scenarios: results, console: consoleErrors, failedResponses }, null, 2));
