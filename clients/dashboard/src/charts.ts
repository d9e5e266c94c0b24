// The overview's figures: payments bucketed per day, and the SVG geometry of the charts
// that show them. Pure, so that the arithmetic is tested without a browser.

export interface Bucket {
  start: Date;
  payments: number;
  succeeded: number;
  failed: number;
  // Minor units of the chosen currency.
  volume: bigint;
}

// What the overview needs of a payment intent (a PaymentIntent fits).
export interface IntentLike {
  amount: bigint;
  amountReceived: bigint;
  currency: string;
  status: number;
  created?: { seconds: bigint };
  lastPaymentError?: { code: string };
}

const DAY_MS = 86_400_000;

export function startOfUtcDay(date: Date): Date {
  return new Date(Math.floor(date.getTime() / DAY_MS) * DAY_MS);
}

// One bucket per UTC day from `days` days before `now` up to today, oldest first.
export function emptyDays(now: Date, days: number): Bucket[] {
  const today = startOfUtcDay(now).getTime();
  return Array.from({ length: days }, (_, index) => ({
    start: new Date(today - (days - 1 - index) * DAY_MS),
    payments: 0,
    succeeded: 0,
    failed: 0,
    volume: 0n,
  }));
}

// Intents of `currency` counted into the day they were created. Succeeded: money was
// received (captured, wholly or partly); failed: the last attempt was declined or erred.
export function bucketIntents(
  intents: IntentLike[],
  currency: string,
  now: Date,
  days: number,
  succeededStatuses: number[],
): Bucket[] {
  const buckets = emptyDays(now, days);
  const first = buckets[0].start.getTime();
  for (const intent of intents) {
    if (intent.currency.toUpperCase() !== currency.toUpperCase() || !intent.created) continue;
    const index = Math.floor((Number(intent.created.seconds) * 1000 - first) / DAY_MS);
    const bucket = buckets[index];
    if (!bucket) continue;
    bucket.payments += 1;
    if (succeededStatuses.includes(intent.status) || intent.amountReceived > 0n) {
      bucket.succeeded += 1;
      bucket.volume += intent.amountReceived;
    } else if (intent.lastPaymentError?.code) {
      bucket.failed += 1;
    }
  }
  return buckets;
}

// Succeeded over attempted (succeeded + failed); null when nothing was attempted, which
// a chart shows as a gap rather than as 0 %.
export function successRate(bucket: Pick<Bucket, "succeeded" | "failed">): number | null {
  const attempted = bucket.succeeded + bucket.failed;
  return attempted === 0 ? null : bucket.succeeded / attempted;
}

export interface Totals {
  payments: number;
  succeeded: number;
  failed: number;
  volume: bigint;
  rate: number | null;
}

export function totalsOf(buckets: Bucket[]): Totals {
  const sum = buckets.reduce(
    (acc, b) => ({
      payments: acc.payments + b.payments,
      succeeded: acc.succeeded + b.succeeded,
      failed: acc.failed + b.failed,
      volume: acc.volume + b.volume,
    }),
    { payments: 0, succeeded: 0, failed: 0, volume: 0n },
  );
  return { ...sum, rate: successRate(sum) };
}

// Currencies by how many intents use them, most first: the overview's default is the first.
export function currenciesByUse(intents: Pick<IntentLike, "currency">[]): string[] {
  const counts = new Map<string, number>();
  for (const intent of intents) {
    const code = intent.currency.toUpperCase();
    counts.set(code, (counts.get(code) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([code]) => code);
}

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

// Bars for values in a width x height box, the tallest reaching the top; all-zero values
// give zero-height bars (no division by zero).
export function bars(values: number[], width: number, height: number, gap = 2): Bar[] {
  const max = Math.max(0, ...values);
  const slot = values.length ? width / values.length : 0;
  return values.map((value, index) => {
    const h = max > 0 ? (value / max) * height : 0;
    return { x: index * slot + gap / 2, y: height - h, width: Math.max(slot - gap, 1), height: h };
  });
}

export interface Point {
  x: number;
  y: number;
}

// Where each value (0..1) sits in a width x height box; null (no value) stays null.
export function points(values: (number | null)[], width: number, height: number): (Point | null)[] {
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values.map((value, index) =>
    value === null ? null : { x: index * step, y: height - Math.min(Math.max(value, 0), 1) * height },
  );
}

// An SVG path through the points that have a value, broken where one is missing.
export function linePath(values: (number | null)[], width: number, height: number): string {
  let path = "";
  let drawing = false;
  for (const point of points(values, width, height)) {
    if (point === null) {
      drawing = false;
      continue;
    }
    path += `${drawing ? "L" : "M"}${point.x.toFixed(1)} ${point.y.toFixed(1)} `;
    drawing = true;
  }
  return path.trim();
}
