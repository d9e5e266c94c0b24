// The hosted checkout: /checkout/{pi}?client_secret=... (served by the web role).
//
// The page's shell carries the merchant's name and publishable key; everything else goes
// through the public API with the generated client over gRPC-Web: GetPaymentIntent for
// the order, CreateToken for the card (the only request that ever carries it),
// ConfirmPaymentIntent with the token, a UPI address, a wallet or a bank, and
// WatchPaymentIntent for every change after that (3-D Secure, UPI collect, the wallet's or
// bank's page, processing). Opened by checkout.js in a
// modal iframe, it reports to the merchant's page with postMessage instead of redirecting.

import {
  apiError,
  createPaygate,
  NextAction_Type,
  PaymentIntent_Status as Status,
  type PaymentIntent,
} from "@paygate/client";
import { browserEnvironment, deviceFingerprint } from "./device";
import { h, setError, show } from "./dom";
import { BANKS, declineMessage, errorMessage, WALLETS } from "./messages";
import { PaymentTry } from "./retry";
import {
  brandLabel,
  cardBrand,
  digitsOf,
  formatAmount,
  formatCardNumber,
  formatExpiry,
  maxCardDigits,
  parseExpiry,
  validateCardNumber,
  validateCvc,
  validateName,
  validateVpa,
} from "./validators";

const root = document.getElementById("checkout") as HTMLElement;
const data = root.dataset;
const params = new URLSearchParams(location.search);
const intentId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() ?? "");
const clientSecret = params.get("client_secret") ?? "";
const merchant = data.merchant || "the merchant";
// The merchant's branding (its business profile): the server checked both, and the
// page's CSP allows the logo's origin only. Set through the CSSOM, which the CSP's
// style-src does not govern (an inline style attribute would be refused).
if (/^#[0-9a-f]{6}$/.test(data.brandColor ?? "")) {
  document.documentElement.style.setProperty("--brand", data.brandColor ?? "");
}
const paygate = createPaygate({ baseUrl: location.origin, key: data.key ?? "" });
// Worked out while the shopper types; sent with the confirm (docs/risk.md). A browser
// that cannot make one (no SubtleCrypto) pays without it.
const device = deviceFingerprint(browserEnvironment()).catch(() => "");

// The merchant's page that opened us with checkout.js (its origin, in our fragment);
// kept for the tab's session, so it survives a reload.
const embedKey = `paygate.embed.${intentId}`;
const fragmentOrigin = new URLSearchParams(location.hash.slice(1)).get("origin");
if (fragmentOrigin && window.parent !== window) sessionStorage.setItem(embedKey, fragmentOrigin);
const parentOrigin = window.parent !== window ? sessionStorage.getItem(embedKey) : null;

function tell(type: string, detail: Record<string, string> = {}): void {
  if (parentOrigin) window.parent.postMessage({ source: "paygate", type, paymentIntent: intentId, ...detail }, parentOrigin);
}

// Escape inside the frame never reaches the merchant's page: ask it to close the modal.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") tell("close");
});

window.addEventListener("message", (event) => {
  if (!parentOrigin || event.origin !== parentOrigin || event.source !== window.parent) return;
  if (event.data?.source === "paygate" && event.data.type === "focus") firstField()?.focus();
});

let intent: PaymentIntent;
let watching = false;
let finished = false;
// Paid before this page opened (a second visit): no redirect, just say so.
let alreadyPaid = false;

// --- the page --------------------------------------------------------------------------

const amountText = () => formatAmount(intent.amount, intent.currency);

const status = h("p", { id: "status", className: "status", role: "status", "aria-live": "polite" });
const formError = h("div", { id: "form-error", className: "form-error", role: "alert", "aria-live": "assertive" });

function field(id: string, label: string, attrs: Record<string, string>): { input: HTMLInputElement; error: HTMLElement; wrap: HTMLElement } {
  const input = h("input", { id, name: id, ...attrs, "aria-describedby": `${id}-error` }) as HTMLInputElement;
  const error = h("p", { id: `${id}-error`, className: "field-error", "aria-live": "polite" });
  const wrap = h("div", { className: "field" }, h("label", { htmlFor: id }, label), input, error);
  return { input, error, wrap };
}

const number = field("card-number", "Card number", {
  inputMode: "numeric", autocomplete: "cc-number", placeholder: "1234 1234 1234 1234", spellcheck: "false",
});
const brandBadge = h("span", { className: "brand", "aria-live": "polite" });
number.wrap.insertBefore(brandBadge, number.error);
const expiry = field("card-expiry", "Expiry", { inputMode: "numeric", autocomplete: "cc-exp", placeholder: "MM / YY" });
const cvc = field("card-cvc", "CVC", { inputMode: "numeric", autocomplete: "cc-csc", placeholder: "123", maxLength: "4" });
const name = field("card-name", "Name on card", { autocomplete: "cc-name", placeholder: "Full name" });
const payCard = h("button", { type: "submit", className: "pay" }) as HTMLButtonElement;
const cardForm = h(
  "form", { id: "card-panel", className: "panel", noValidate: true, role: "tabpanel", "aria-labelledby": "tab-card" },
  number.wrap, h("div", { className: "row" }, expiry.wrap, cvc.wrap), name.wrap, payCard,
) as HTMLFormElement;

const vpa = field("upi-vpa", "UPI ID", { autocomplete: "off", placeholder: "name@bank", spellcheck: "false" });
const payUpi = h("button", { type: "submit", className: "pay" }) as HTMLButtonElement;
const upiWait = h("div", { className: "upi-wait", hidden: true });
const upiForm = h(
  "form", { id: "upi-panel", className: "panel", noValidate: true, role: "tabpanel", "aria-labelledby": "tab-upi", hidden: true },
  vpa.wrap, payUpi, upiWait,
) as HTMLFormElement;

// Wallets and net banking: pick one, approve on its page (opened in a new tab); this
// page follows the intent meanwhile.
function choice(id: string, label: string, options: Record<string, string>): { select: HTMLSelectElement; wrap: HTMLElement } {
  const select = h("select", { id, name: id }, ...Object.entries(options).map(([value, text]) => h("option", { value }, text))) as HTMLSelectElement;
  return { select, wrap: h("div", { className: "field" }, h("label", { htmlFor: id }, label), select) };
}
const wallet = choice("wallet-provider", "Wallet", WALLETS);
const payWallet = h("button", { type: "submit", className: "pay" }) as HTMLButtonElement;
const walletWait = h("div", { className: "redirect-wait", hidden: true });
const walletForm = h(
  "form", { id: "wallet-panel", className: "panel", noValidate: true, role: "tabpanel", "aria-labelledby": "tab-wallet", hidden: true },
  wallet.wrap, payWallet, walletWait,
) as HTMLFormElement;
const bank = choice("netbanking-bank", "Bank", BANKS);
const payBank = h("button", { type: "submit", className: "pay" }) as HTMLButtonElement;
const bankWait = h("div", { className: "redirect-wait", hidden: true });
const bankForm = h(
  "form", { id: "netbanking-panel", className: "panel", noValidate: true, role: "tabpanel", "aria-labelledby": "tab-netbanking", hidden: true },
  bank.wrap, payBank, bankWait,
) as HTMLFormElement;
const panels = () => [cardForm, upiForm, walletForm, bankForm];
// The payment method type of a panel, for messages in that method's words.
const methodOf = (panel: HTMLElement) => panel.id.replace("-panel", "");

const tabs = h("div", { className: "tabs", role: "tablist", "aria-label": "Payment method" });
const challenge = h("div", { className: "challenge", hidden: true });
const result = h("div", { className: "result", hidden: true, tabIndex: -1 });
const back = h("a", { className: "back", hidden: true }, `← Back to ${merchant}`) as HTMLAnchorElement;

function firstField(): HTMLInputElement | null {
  return !cardForm.hidden ? number.input : !upiForm.hidden ? vpa.input : null;
}

// --- card form: formatting and live validation ------------------------------------------

function showBrand(): void {
  const brand = cardBrand(number.input.value);
  brandBadge.textContent = brand === "unknown" ? "" : brandLabel(brand);
  brandBadge.className = `brand brand-${brand}`;
}

number.input.addEventListener("input", () => {
  const caretAtEnd = number.input.selectionStart === number.input.value.length;
  const digits = digitsOf(number.input.value).slice(0, maxCardDigits(number.input.value));
  const formatted = formatCardNumber(digits);
  if (formatted !== number.input.value && caretAtEnd) number.input.value = formatted;
  showBrand();
  setError(number.input, number.error, validateCardNumber(number.input.value, false));
});
expiry.input.addEventListener("input", (event) => {
  const deleting = (event as InputEvent).inputType?.startsWith("delete") ?? false;
  expiry.input.value = formatExpiry(expiry.input.value, deleting);
  const parsed = parseExpiry(expiry.input.value, new Date(), false);
  setError(expiry.input, expiry.error, typeof parsed === "string" ? parsed : "");
});
cvc.input.addEventListener("input", () => {
  cvc.input.value = digitsOf(cvc.input.value).slice(0, 4);
  setError(cvc.input, cvc.error, validateCvc(cvc.input.value, number.input.value, false));
});
name.input.addEventListener("input", () => setError(name.input, name.error, ""));
number.input.addEventListener("blur", () => number.input.value && setError(number.input, number.error, validateCardNumber(number.input.value)));
expiry.input.addEventListener("blur", () => {
  const parsed = expiry.input.value ? parseExpiry(expiry.input.value, new Date()) : "";
  setError(expiry.input, expiry.error, typeof parsed === "string" ? parsed : "");
});
cvc.input.addEventListener("blur", () => cvc.input.value && setError(cvc.input, cvc.error, validateCvc(cvc.input.value, number.input.value)));

function validateCard(): { month: number; year: number } | null {
  const parsed = parseExpiry(expiry.input.value, new Date());
  const checks: [HTMLInputElement, HTMLElement, string][] = [
    [number.input, number.error, validateCardNumber(number.input.value)],
    [expiry.input, expiry.error, typeof parsed === "string" ? parsed : ""],
    [cvc.input, cvc.error, validateCvc(cvc.input.value, number.input.value)],
    [name.input, name.error, validateName(name.input.value)],
  ];
  let first: HTMLInputElement | null = null;
  for (const [input, error, message] of checks) {
    setError(input, error, message);
    if (message && !first) first = input;
  }
  if (first || typeof parsed === "string") {
    first?.focus();
    return null;
  }
  return parsed;
}

// --- paying -----------------------------------------------------------------------------

const idempotencyKey = () => `checkout_${crypto.getRandomValues(new Uint32Array(4)).join("")}`;
// The shopper's current try: a retry after an answer that never came (a 503, a deadline)
// sends the same requests under the same keys, so that it cannot pay twice (retry.ts).
// Whatever the shopper changes (a field, a select, the tab) starts a new try.
const payment = new PaymentTry(idempotencyKey);
root.addEventListener("input", () => payment.end());
root.addEventListener("change", () => payment.end());

function busy(on: boolean): void {
  for (const button of [payCard, payUpi, payWallet, payBank]) button.disabled = on;
  payCard.textContent = on ? "Processing…" : `Pay ${amountText()}`;
  payUpi.textContent = on ? "Processing…" : `Pay ${amountText()} with UPI`;
  payWallet.textContent = on ? "Processing…" : `Pay ${amountText()} with your wallet`;
  payBank.textContent = on ? "Processing…" : `Pay ${amountText()} by net banking`;
  root.setAttribute("aria-busy", on ? "true" : "false");
}

function fail(message: string): void {
  busy(false);
  formError.textContent = message;
  status.textContent = "";
  firstField()?.focus();
  tell("failure", { message });
}

cardForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.textContent = "";
  const exp = validateCard();
  if (!exp) return;
  busy(true);
  status.textContent = "Processing your payment…";
  const card = {
    number: digitsOf(number.input.value),
    expMonth: exp.month,
    expYear: exp.year,
    cvc: cvc.input.value,
    name: name.input.value.trim(),
  };
  for (let pass = 0; ; pass++) {
    try {
      if (!payment.token) {
        const headers = { "idempotency-key": payment.key("tokenize") };
        payment.token = (await paygate.tokens.createToken({ card }, { headers })).id;
      }
      return await confirm({ paymentMethod: payment.token });
    } catch (error) {
      // A retried token that the failed try used up (the acquirer was not reached after
      // the card left the vault): that try made no payment, or the same key would have
      // replayed it, so a new try with a new token is safe.
      if (pass === 0 && payment.token && apiError(error).reason === "TOKEN_ALREADY_USED") {
        payment.end();
        continue;
      }
      return handleError(error);
    }
  }
});

upiForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.textContent = "";
  const message = validateVpa(vpa.input.value);
  setError(vpa.input, vpa.error, message);
  if (message) return vpa.input.focus();
  busy(true);
  status.textContent = "Sending a payment request to your UPI app…";
  try {
    await confirm({ upi: { vpa: vpa.input.value.trim().toLowerCase() } });
  } catch (error) {
    handleError(error);
  }
});

walletForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.textContent = "";
  busy(true);
  try {
    await confirm({ wallet: { provider: wallet.select.value } });
  } catch (error) {
    handleError(error);
  }
});

bankForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  formError.textContent = "";
  busy(true);
  try {
    await confirm({ netbanking: { bank: bank.select.value } });
  } catch (error) {
    handleError(error);
  }
});

type Method = {
  paymentMethod?: string;
  upi?: { vpa: string };
  wallet?: { provider: string };
  netbanking?: { bank: string };
};

async function confirm(method: Method): Promise<void> {
  const confirmed = await paygate.paymentIntents.confirmPaymentIntent(
    { id: intentId, clientSecret, deviceFingerprint: await device, ...method },
    { headers: { "idempotency-key": payment.key("confirm") } },
  );
  payment.end();
  render(confirmed);
}

function handleError(error: unknown): void {
  const err = apiError(error);
  payment.failed(err);
  if (err.reason === "CARD_DECLINED" || err.reason === "PAYMENT_DECLINED") {
    // The card number is kept: the shopper may only have mistyped the CVC.
    return fail(`${declineMessage(err.metadata.decline_code ?? "")} Try again or use another card.`);
  }
  const param = err.metadata.param ?? "";
  const fields: Record<string, [HTMLInputElement, HTMLElement]> = {
    "card.number": [number.input, number.error],
    "card.exp_month": [expiry.input, expiry.error],
    "card.exp_year": [expiry.input, expiry.error],
    "card.cvc": [cvc.input, cvc.error],
    "card.name": [name.input, name.error],
    "upi.vpa": [vpa.input, vpa.error],
  };
  if (fields[param]) {
    busy(false);
    const [input, errorEl] = fields[param];
    setError(input, errorEl, errorMessage(err));
    status.textContent = "";
    input.focus();
    return;
  }
  fail(errorMessage(err));
  // The intent may have moved on (paid in another tab, expired): show what it is now.
  void refresh();
}

async function refresh(): Promise<void> {
  try {
    render(await paygate.paymentIntents.getPaymentIntent({ id: intentId, clientSecret }));
  } catch {
    // The form stays; the shopper can try again.
  }
}

// --- what the intent says ---------------------------------------------------------------

function destination(kind: "success" | "cancel"): string {
  const base = kind === "success" ? data.successUrl || data.returnUrl : data.cancelUrl;
  if (!base) return "";
  const url = new URL(base);
  url.searchParams.append("payment_intent", intentId);
  url.searchParams.append("redirect_status", kind === "success" ? "succeeded" : "canceled");
  return url.toString();
}

function showResult(kind: "success" | "info", title: string, text: string, link?: [string, string]): void {
  finished = true;
  for (const panel of panels()) show(panel, false);
  show(tabs, false);
  show(challenge, false);
  challenge.replaceChildren();
  show(back, false);
  formError.textContent = ""; // a message about an earlier try is stale now
  result.className = `result result-${kind}`;
  result.replaceChildren(h("h2", {}, title), h("p", {}, text));
  if (link?.[0]) result.append(h("a", { href: link[0], className: "continue" }, link[1]));
  show(result, true);
  status.textContent = "";
  busy(false);
  root.setAttribute("aria-busy", "false");
  result.focus();
}

function render(next: PaymentIntent): void {
  intent = next;
  if (finished) return;
  switch (intent.status) {
    case Status.SUCCEEDED:
    case Status.REQUIRES_CAPTURE:
      return succeeded();
    case Status.CANCELED: {
      // The page's own note covers a view of the intent that leaves the reason out.
      const expired = (intent.cancellationReason || data.cancellationReason) === "EXPIRED";
      tell("failure", { message: expired ? "expired" : "canceled" });
      return showResult(
        "info",
        expired ? "This payment link has expired" : "This payment was canceled",
        expired
          ? `The time to pay has run out. Return to ${merchant} to start again.`
          : `${merchant} canceled this payment. Nothing was charged.`,
        [destination("cancel"), `Return to ${merchant}`],
      );
    }
    case Status.REQUIRES_ACTION:
      return action();
    case Status.PROCESSING:
      status.textContent = "Processing your payment…";
      busy(true);
      void watch();
      return;
    default: {
      show(challenge, false);
      challenge.replaceChildren();
      for (const wait of [upiWait, walletWait, bankWait]) show(wait, false);
      show(tabs, tabs.children.length > 1);
      for (const panel of panels()) show(panel, currentPanel === panel);
      const error = intent.lastPaymentError;
      if (error?.code && root.getAttribute("aria-busy") === "true" && watching) {
        // A 3-D Secure challenge or a UPI collect that failed: back to the form.
        const text = error.declineCode ? declineMessage(error.declineCode, methodOf(currentPanel)) : error.message || "The payment did not go through.";
        fail(`${text} Try again or use another payment method.`);
      } else {
        busy(false);
      }
    }
  }
}

function succeeded(): void {
  const target = destination("success");
  const redirect = Boolean(target) && !parentOrigin && !alreadyPaid;
  tell("success");
  showResult(
    "success",
    alreadyPaid ? "This payment has already been made" : "Payment successful",
    `${amountText()} paid to ${merchant}.` + (redirect ? ` Returning to ${merchant}…` : ""),
    [target, `Return to ${merchant}`],
  );
  if (redirect) window.setTimeout(() => location.assign(target), 1500);
}

function action(): void {
  const next = intent.nextAction;
  busy(true);
  const away = next?.type === NextAction_Type.REDIRECT_TO_URL && next.url ? new URL(next.url, location.origin) : null;
  if (away && away.origin !== location.origin && (away.protocol === "https:" || away.protocol === "http:")) {
    // A wallet's or bank's own page: the shopper approves there, in a tab of its own.
    const panel = currentPanel === bankForm ? bankForm : walletForm;
    const wait = panel === bankForm ? bankWait : walletWait;
    const where = panel === bankForm ? "your bank" : "your wallet";
    status.textContent = `Approve the payment on ${where}'s page. This page updates by itself.`;
    wait.replaceChildren(h("a", { href: away.toString(), target: "_blank", rel: "noopener", className: "deep-link" }, `Continue to ${where}`));
    for (const other of panels()) show(other, other === panel);
    show(tabs, false);
    show(wait, true);
  } else if (next?.type === NextAction_Type.REDIRECT_TO_URL && next.url) {
    // The bank's 3-D Secure page, in a frame of ours (same origin, so the CSP allows it);
    // the watch stream says when it is over.
    status.textContent = "Your bank wants to confirm it is you.";
    const url = new URL(next.url, location.origin);
    if (url.origin === location.origin && !challenge.firstChild) {
      challenge.append(h("iframe", { src: url.pathname, title: "3-D Secure authentication" }));
    }
    show(cardForm, false);
    show(tabs, false);
    show(challenge, true);
  } else if (next?.type === NextAction_Type.UPI_COLLECT) {
    status.textContent = "Approve the payment request in your UPI app. This page updates by itself.";
    const parts: Node[] = [];
    if (next.qrCode.startsWith("data:image/")) parts.push(h("img", { src: next.qrCode, alt: "QR code to pay with a UPI app", className: "qr" }));
    if (next.url.startsWith("upi://")) parts.push(h("a", { href: next.url, className: "deep-link" }, "Open in your UPI app"));
    upiWait.replaceChildren(...parts);
    show(upiForm, true);
    show(cardForm, false);
    show(upiWait, true);
  }
  void watch();
}

// WatchPaymentIntent until the intent is done; watched again when the stream is cut.
async function watch(): Promise<void> {
  if (watching) return;
  watching = true;
  for (let attempt = 0; attempt < 20 && !finished; attempt++) {
    try {
      for await (const message of paygate.paymentIntents.watchPaymentIntent({ id: intentId, clientSecret })) {
        if (message.paymentIntent) render(message.paymentIntent);
        if (message.final || finished) break;
      }
    } catch {
      await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** attempt, 5000)));
    }
    if (finished || (intent.status !== Status.REQUIRES_ACTION && intent.status !== Status.PROCESSING)) break;
  }
  watching = false;
}

// --- start ------------------------------------------------------------------------------

let currentPanel: HTMLElement = cardForm;

function tab(id: string, label: string, panel: HTMLElement): HTMLButtonElement {
  const button = h("button", { id, type: "button", role: "tab", "aria-controls": panel.id, className: "tab" }, label) as HTMLButtonElement;
  button.addEventListener("click", () => select(button, panel));
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight" || event.key === "ArrowLeft") {
      const all = [...tabs.querySelectorAll<HTMLButtonElement>("[role=tab]")];
      const next = all[(all.indexOf(button) + (event.key === "ArrowRight" ? 1 : all.length - 1)) % all.length];
      next.click();
      next.focus();
    }
  });
  return button;
}

function select(button: HTMLButtonElement, panel: HTMLElement): void {
  for (const other of tabs.querySelectorAll<HTMLButtonElement>("[role=tab]")) {
    const selected = other === button;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
  }
  if (currentPanel !== panel) payment.end();
  currentPanel = panel;
  for (const other of panels()) show(other, panel === other);
  formError.textContent = "";
}

async function start(): Promise<void> {
  try {
    intent = await paygate.paymentIntents.getPaymentIntent({ id: intentId, clientSecret });
  } catch (error) {
    const err = apiError(error);
    root.replaceChildren(
      h("h1", {}, err.code === "notFound" ? "This payment link is not valid" : "The checkout could not load"),
      h("p", {}, err.code === "notFound" ? "Check the link, or return to the merchant's site." : "Reload the page to try again."),
    );
    root.setAttribute("aria-busy", "false");
    return;
  }
  const methods = intent.paymentMethodTypes.length ? intent.paymentMethodTypes : ["card"];
  const summary = h(
    "section", { className: "summary", "aria-label": "Order summary" },
    h("p", { className: "merchant" }, merchant),
    h("p", { className: "amount" }, amountText()),
  );
  const logo = data.logo ? h("img", { className: "logo", src: data.logo, alt: `${merchant} logo` }) : "";
  const header = h("header", {}, logo, h("h1", {}, `Pay ${merchant}`), data.livemode === "true" ? "" : h("span", { className: "test" }, "Test mode"));
  if (methods.includes("card")) tabs.append(tab("tab-card", "Card", cardForm));
  if (methods.includes("upi")) tabs.append(tab("tab-upi", "UPI", upiForm));
  if (methods.includes("wallet")) tabs.append(tab("tab-wallet", "Wallet", walletForm));
  if (methods.includes("netbanking")) tabs.append(tab("tab-netbanking", "Net banking", bankForm));
  const cancel = destination("cancel");
  if (cancel) {
    back.href = cancel;
    show(back, true);
  }
  root.replaceChildren(header, summary, tabs, ...panels(), challenge, formError, status, result, back);
  const first = tabs.querySelector<HTMLButtonElement>("[role=tab]");
  const panelOf = (id: string) => panels().find((panel) => panel.id === id.replace("tab-", "") + "-panel") ?? cardForm;
  if (first) select(first, panelOf(first.id));
  show(tabs, tabs.children.length > 1);
  busy(false);
  if (intent.lastPaymentError?.code && intent.status === Status.REQUIRES_PAYMENT_METHOD) {
    formError.textContent = `${intent.lastPaymentError.declineCode ? declineMessage(intent.lastPaymentError.declineCode) : intent.lastPaymentError.message} Try again or use another payment method.`;
  }
  alreadyPaid = intent.status === Status.SUCCEEDED || intent.status === Status.REQUIRES_CAPTURE;
  render(intent);
  tell("ready");
  if (!finished && document.activeElement === document.body) firstField()?.focus();
}

void start();
