// The overview: the last 30 days of payments in one currency, as volume per day and
// success rate per day, with the totals.

import { useState } from "react";
import { PaymentIntent_Status as IntentStatus, type PaymentIntent } from "@paygate/client";
import { bars, bucketIntents, currenciesByUse, linePath, points, successRate, totalsOf, type Bucket } from "../charts";
import { useDashboard } from "../context";
import { formatAmount } from "../money";
import { href } from "../route";
import { EmptyState, ErrorState, PageHeader, useLoad } from "../ui";

const DAYS = 30;
// How many of the latest intents the charts read (the API lists 100 a page).
const MAX_PAGES = 10;
const SUCCEEDED = [IntentStatus.SUCCEEDED];
const WIDTH = 600;
const HEIGHT = 140;

async function recentIntents(list: (after: string) => Promise<{ data: PaymentIntent[]; hasMore: boolean }>, since: number) {
  const found: PaymentIntent[] = [];
  let after = "";
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await list(after);
    found.push(...answer.data);
    const last = answer.data[answer.data.length - 1];
    if (!answer.hasMore || !last || Number(last.created?.seconds ?? 0n) * 1000 < since) break;
    after = last.id;
  }
  return found;
}

function dayLabel(date: Date): string {
  return date.toISOString().slice(5, 10);
}

function VolumeChart(props: { buckets: Bucket[]; currency: string }) {
  const values = props.buckets.map((b) => Number(b.volume));
  return (
    <figure className="chart">
      <figcaption>Volume per day</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`Volume per day in ${props.currency}`}>
        {bars(values, WIDTH, HEIGHT).map((bar, index) => (
          <rect key={index} className="bar" x={bar.x} y={bar.y} width={bar.width} height={bar.height}>
            <title>
              {dayLabel(props.buckets[index].start)}: {formatAmount(props.buckets[index].volume, props.currency)}
            </title>
          </rect>
        ))}
      </svg>
      <div className="axis">
        <span>{dayLabel(props.buckets[0].start)}</span>
        <span>{dayLabel(props.buckets[props.buckets.length - 1].start)}</span>
      </div>
    </figure>
  );
}

function SuccessChart(props: { buckets: Bucket[] }) {
  const rates = props.buckets.map(successRate);
  return (
    <figure className="chart">
      <figcaption>Success rate per day</figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label="Success rate per day">
        <line className="grid" x1="0" x2={WIDTH} y1={HEIGHT / 2} y2={HEIGHT / 2} />
        <path className="line" d={linePath(rates, WIDTH, HEIGHT)} />
        {points(rates, WIDTH, HEIGHT).map((point, index) =>
          point ? (
            <circle key={index} className="point" cx={point.x} cy={point.y} r="4">
              <title>
                {dayLabel(props.buckets[index].start)}: {((rates[index] ?? 0) * 100).toFixed(1)} %
              </title>
            </circle>
          ) : null,
        )}
      </svg>
      <div className="axis">
        <span>{dayLabel(props.buckets[0].start)}</span>
        <span>{dayLabel(props.buckets[props.buckets.length - 1].start)}</span>
      </div>
    </figure>
  );
}

export function Overview() {
  const { api, membership } = useDashboard();
  const [currency, setCurrency] = useState("");
  const now = new Date();
  const since = now.getTime() - DAYS * 86_400_000;
  const intents = useLoad(
    () => recentIntents((after) => api.paymentIntents.listPaymentIntents({ limit: 100, startingAfter: after }), since),
    [],
  );
  const all = intents.data ?? [];
  const currencies = currenciesByUse(all);
  const chosen = currency || currencies[0] || "USD";
  const buckets = bucketIntents(all, chosen, now, DAYS, SUCCEEDED);
  const totals = totalsOf(buckets);
  return (
    <>
      <PageHeader title={`Overview: ${membership.accountName}`}>
        {currencies.length > 1 && (
          <label>
            Currency{" "}
            <select value={chosen} onChange={(e) => setCurrency(e.target.value)}>
              {currencies.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
        )}
      </PageHeader>
      {intents.error ? (
        <ErrorState message={intents.error} retry={intents.reload} />
      ) : intents.loading ? (
        <p className="muted">Loading…</p>
      ) : all.length === 0 ? (
        <EmptyState>
          No payments yet. Create one with your API key (see <a href={href(["developers", "docs"])}>Docs</a>) and it shows
          up here.
        </EmptyState>
      ) : (
        <>
          <div className="tiles" aria-label="Last 30 days">
            <div className="tile">
              <span>Volume, last {DAYS} days</span>
              <strong data-testid="volume">{formatAmount(totals.volume, chosen)}</strong>
            </div>
            <div className="tile">
              <span>Payments</span>
              <strong>{totals.payments}</strong>
            </div>
            <div className="tile">
              <span>Success rate</span>
              <strong>{totals.rate === null ? "—" : `${(totals.rate * 100).toFixed(1)} %`}</strong>
            </div>
            <div className="tile">
              <span>Declined or failed</span>
              <strong>{totals.failed}</strong>
            </div>
          </div>
          <div className="charts">
            <VolumeChart buckets={buckets} currency={chosen} />
            <SuccessChart buckets={buckets} />
          </div>
        </>
      )}
    </>
  );
}
