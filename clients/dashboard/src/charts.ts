// The overview's figures: the analytics API's buckets per day, and the SVG geometry of
// the charts that show them. Pure, so that the arithmetic is tested without a browser.

export interface Bucket {
  start: Date;
  payments: number;
  succeeded: number;
  failed: number;
  // Minor units of the chosen currency.
  volume: bigint;
}

const DAY_MS = 86_400_000;

// The overview's range: `days` whole UTC days, today included. The analytics API wants
// bucket boundaries (midnight UTC), the end exclusive.
export function lastDays(now: Date, days: number): { start: Date; end: Date } {
  const tomorrow = Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS;
  return { start: new Date(tomorrow - days * DAY_MS), end: new Date(tomorrow) };
}

// What the analytics API answers per bucket (an AnalyticsBucket fits).
export interface BucketLike {
  start?: { seconds: bigint };
  figures?: { payments: bigint; succeeded: bigint; failed: bigint; volume: bigint };
}

export function bucketsOf(answer: BucketLike[]): Bucket[] {
  return answer.map((b) => ({
    start: new Date(Number(b.start?.seconds ?? 0n) * 1000),
    payments: Number(b.figures?.payments ?? 0n),
    succeeded: Number(b.figures?.succeeded ?? 0n),
    failed: Number(b.figures?.failed ?? 0n),
    volume: b.figures?.volume ?? 0n,
  }));
}

// Succeeded over attempted (succeeded + failed); null when nothing was attempted, which
// a chart shows as a gap rather than as 0 %.
export function successRate(bucket: Pick<Bucket, "succeeded" | "failed">): number | null {
  const attempted = bucket.succeeded + bucket.failed;
  return attempted === 0 ? null : bucket.succeeded / attempted;
}

// Currencies by how many intents use them, most first: the overview's default is the first.
export function currenciesByUse(intents: { currency: string }[]): string[] {
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
