// The integration guide's code samples, filled in with the merchant's own test keys and
// this gateway's address. Each sample is a complete program: clients/dashboard/test runs
// the webhook verifier, and the browser e2e runs the curl samples against a gateway.

export interface GuideKeys {
  // The gateway as the browser reaches it: http://127.0.0.1:8080.
  baseUrl: string;
  // sk_test_... (a placeholder until the merchant makes a key for the guide).
  secretKey: string;
  // pk_test_...
  publishableKey: string;
}

export const SECRET_PLACEHOLDER = "sk_test_YOUR_SECRET_KEY";
export const PUBLISHABLE_PLACEHOLDER = "pk_test_YOUR_PUBLISHABLE_KEY";

export interface Sample {
  id: string;
  title: string;
  language: "shell" | "html" | "javascript";
  text: string;
  note: string;
}

// A value inside single quotes in POSIX sh: ' becomes '\''.
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

// A value inside a double-quoted HTML attribute.
export function htmlAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
}

export function samples(keys: GuideKeys): Sample[] {
  const base = keys.baseUrl.replace(/\/+$/, "");
  const sk = keys.secretKey || SECRET_PLACEHOLDER;
  const pk = keys.publishableKey || PUBLISHABLE_PLACEHOLDER;
  return [
    {
      id: "create-intent",
      title: "1. Create a payment intent (on your server)",
      language: "shell",
      note: "Amounts are integer minor units: 2500 is 25.00 EUR. The answer's checkout_url is the hosted checkout.",
      text: [
        `curl -s ${shellQuote(`${base}/v1/payment_intents`)} \\`,
        `  -H ${shellQuote(`Authorization: Bearer ${sk}`)} \\`,
        `  -H "Idempotency-Key: order-$(date +%s)" \\`,
        `  -d '{"amount": 2500, "currency": "eur", "success_url": "https://example.com/thanks"}'`,
      ].join("\n"),
    },
    {
      id: "redirect",
      title: "2a. Redirect the shopper to the hosted checkout",
      language: "shell",
      note: "Send the shopper's browser to checkout_url; they come back to success_url when paid.",
      text: [
        `CHECKOUT_URL=$(curl -s ${shellQuote(`${base}/v1/payment_intents`)} \\`,
        `  -H ${shellQuote(`Authorization: Bearer ${sk}`)} \\`,
        `  -d '{"amount": 2500, "currency": "eur"}' \\`,
        `  | python3 -c 'import json, sys; print(json.load(sys.stdin)["checkout_url"])')`,
        `echo "Location: $CHECKOUT_URL"`,
      ].join("\n"),
    },
    {
      id: "checkout-js",
      title: "2b. Or open the checkout on your own page with checkout.js",
      language: "html",
      note: "The publishable key may only read and confirm the intent whose client_secret it is given.",
      text: [
        `<script src="${htmlAttribute(`${base}/js/v1/checkout.js`)}"></script>`,
        `<button id="pay">Pay 25.00 EUR</button>`,
        `<script>`,
        `  document.getElementById("pay").onclick = async () => {`,
        `    // Your server creates the intent (step 1) and returns its client_secret.`,
        `    const { client_secret } = await (await fetch("/create-intent", { method: "POST" })).json();`,
        `    Paygate(${JSON.stringify(pk)}).openCheckout({`,
        `      clientSecret: client_secret,`,
        `      onSuccess: () => { location.href = "/thanks"; },`,
        `    });`,
        `  };`,
        `</script>`,
      ].join("\n"),
    },
    {
      id: "verify-webhook",
      title: "3. Verify a webhook (Node.js)",
      language: "javascript",
      note: "Each delivery is signed per Standard Webhooks: check the signature and the timestamp before trusting the body.",
      text: VERIFY_WEBHOOK,
    },
  ];
}

// Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the secret's bytes (the
// base64 after whsec_), compared in constant time against each v1 signature.
export const VERIFY_WEBHOOK = `import { createHmac, timingSafeEqual } from "node:crypto";

const TOLERANCE_SECONDS = 5 * 60;

// Returns the event when the delivery is genuine, throws otherwise.
export function verifyWebhook(secret, headers, body, now = Date.now() / 1000) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"] ?? "";
  if (!id || !timestamp) throw new Error("missing webhook headers");
  if (Math.abs(now - Number(timestamp)) > TOLERANCE_SECONDS) throw new Error("timestamp too old");
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(\`\${id}.\${timestamp}.\${body}\`).digest();
  const genuine = signatures.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!genuine) throw new Error("bad signature");
  return JSON.parse(body);
}
`;
