// The official `stripe` npm package against paygate's /stripe surface, run by
// tests/e2e/test_stripe_sdk_e2e.py: PAYGATE_STRIPE_URL (http://127.0.0.1:PORT/stripe) and
// PAYGATE_STRIPE_KEY (a secret key). Prints one JSON object of what it saw; the Python
// test asserts on it.
//
// stripe-node takes a host, a port and a protocol but no base path, so its HTTP client is
// wrapped to put /stripe in front of each path: the one line a merchant adds.
import Stripe from 'stripe';

const base = new URL(process.env.PAYGATE_STRIPE_URL);
if (!['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname)) {
  throw new Error(`refusing a non-loopback gateway: ${base.hostname}`);
}
const inner = Stripe.createNodeHttpClient();
const httpClient = Object.create(inner);
httpClient.makeRequest = (host, port, path, ...rest) =>
  inner.makeRequest(host, port, base.pathname.replace(/\/$/, '') + path, ...rest);

const stripe = new Stripe(process.env.PAYGATE_STRIPE_KEY, {
  host: base.hostname,
  port: Number(base.port),
  protocol: 'http',
  httpClient,
  maxNetworkRetries: 0,
  telemetry: false,
});

const seen = {};
const visa = await stripe.paymentIntents.create({
  amount: 2000,
  currency: 'usd',
  confirm: true,
  payment_method: 'pm_card_visa',
  metadata: { order: '6735' },
});
seen.visa = { status: visa.status, amount: visa.amount, order: visa.metadata.order };

const manual = await stripe.paymentIntents.create({
  amount: 5000,
  currency: 'eur',
  capture_method: 'manual',
  confirm: true,
  payment_method: 'pm_card_mastercard',
});
const captured = await stripe.paymentIntents.capture(manual.id, { amount_to_capture: 5000 });
const refund = await stripe.refunds.create({ payment_intent: manual.id, amount: 1500 });
seen.manual = { before: manual.status, after: captured.status, refund: refund.status, refunded: refund.amount };

try {
  await stripe.paymentIntents.create({
    amount: 2000, currency: 'usd', confirm: true, payment_method: 'pm_card_chargeDeclined',
  });
  seen.declined = { raised: false };
} catch (error) {
  seen.declined = {
    raised: error instanceof Stripe.errors.StripeCardError,
    code: error.code,
    decline_code: error.decline_code,
    status: error.statusCode,
  };
}

const threeDs = await stripe.paymentIntents.create({
  amount: 2000, currency: 'usd', confirm: true, payment_method: 'pm_card_threeDSecureRequired',
  return_url: 'http://127.0.0.1:4242/done',
});
seen.three_ds = { status: threeDs.status, next_action: threeDs.next_action };

const key = `node-${visa.id}`;
const first = await stripe.paymentIntents.create({ amount: 700, currency: 'usd' }, { idempotencyKey: key });
const again = await stripe.paymentIntents.create({ amount: 700, currency: 'usd' }, { idempotencyKey: key });
seen.replay = { same: first.id === again.id };

try {
  await stripe.paymentIntents.create({ amount: 700, currency: 'usd', on_behalf_of: 'acct_x' });
  seen.unknown = { raised: false };
} catch (error) {
  seen.unknown = {
    raised: error instanceof Stripe.errors.StripeInvalidRequestError,
    param: error.param,
    status: error.statusCode,
  };
}

let walked = 0;
for await (const intent of stripe.paymentIntents.list({ limit: 100 })) {
  if (intent.object === 'payment_intent') walked += 1;
}
seen.walked = walked;

console.log(JSON.stringify(seen));
