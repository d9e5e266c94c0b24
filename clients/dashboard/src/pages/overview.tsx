// The overview: the onboarding checklist until it is done, then the last 30 days of one
// currency from the analytics API (computed in PostgreSQL): volume and success rate per
// day, the totals (refunds, disputes, fees, net) and why payments were declined.

import { useState } from "react";
import { analytics as analyticsPb } from "@paygate/client";
import { bars, bucketsOf, currenciesByUse, lastDays, linePath, points, successRate, type Bucket } from "../charts";
import { useDashboard } from "../context";
import { formatAmount } from "../money";
import { href } from "../route";
import { ErrorState, PageHeader, useLoad } from "../ui";

const DAYS = 30;
const WIDTH = 600;
const HEIGHT = 140;

function dayLabel(date: Date): string {
  return date.toISOString().slice(5, 10);
}

function Axis(props: { buckets: Bucket[] }) {
  return (
    <div className="axis">
      <span>{dayLabel(props.buckets[0].start)}</span>
      <span>{dayLabel(props.buckets[props.buckets.length - 1].start)}</span>
    </div>
  );
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
      <Axis buckets={props.buckets} />
    </figure>
  );
}

function SuccessChart(props: { buckets: Bucket[] }) {
  const rates = props.buckets.map(successRate);
  return (
    <figure className="chart">
      <figcaption>Success rate per day</figcaption>
      <svg viewBox={`-6 -6 ${WIDTH + 12} ${HEIGHT + 12}`} role="img" aria-label="Success rate per day">
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
      <Axis buckets={props.buckets} />
    </figure>
  );
}

function Checklist() {
  const { api } = useDashboard();
  const checklist = useLoad(() => api.businessProfile.getOnboardingChecklist({}), []);
  const c = checklist.data;
  if (!c || c.complete) return null;
  const items: [boolean, string, string][] = [
    [c.profileComplete, "Complete your business profile", href(["settings"])],
    [c.apiKeyCreated, "Create an API key", href(["developers", "keys"])],
    [c.webhookEndpointSet, "Add a webhook endpoint", href(["developers", "webhooks"])],
    [c.testPaymentMade, "Make a test payment", href(["developers", "docs"])],
  ];
  return (
    <section className="card checklist" aria-label="Get started">
      <h2>Get started</h2>
      <ul>
        {items.map(([done, label, link]) => (
          <li key={label} className={done ? "done" : undefined}>
            <span aria-hidden="true">{done ? "✓" : "○"}</span> {done ? label : <a href={link}>{label}</a>}
            {done && <span className="visually-hidden"> (done)</span>}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Overview() {
  const { api, can, membership } = useDashboard();
  const [chosen, setChosen] = useState("");
  const currencies = useLoad(async () => {
    const [profile, recent] = await Promise.all([
      can("settings:read") ? api.businessProfile.getBusinessProfile({}) : null,
      api.paymentIntents.listPaymentIntents({ limit: 100 }),
    ]);
    const used = currenciesByUse(recent.data);
    const accepted = (profile?.acceptedCurrencies ?? []).map((c) => c.toUpperCase());
    return [...new Set([...used, ...accepted])];
  }, []);
  const list = currencies.data ?? [];
  const currency = chosen || list[0] || "USD";
  const range = lastDays(new Date(), DAYS);
  const figures = useLoad(
    () =>
      api.analytics.getPaymentAnalytics({
        currency,
        start: { seconds: BigInt(range.start.getTime() / 1000), nanos: 0 },
        end: { seconds: BigInt(range.end.getTime() / 1000), nanos: 0 },
        interval: analyticsPb.PaymentAnalytics_Interval.DAY,
      }),
    [currency, currencies.loading],
  );
  const totals = figures.data?.totals;
  const buckets = bucketsOf(figures.data?.buckets ?? []);
  return (
    <>
      <PageHeader title={`Overview: ${membership.accountName}`}>
        {list.length > 1 && (
          <label>
            Currency{" "}
            <select value={currency} onChange={(e) => setChosen(e.target.value)}>
              {list.map((c) => (
                <option key={c}>{c}</option>
              ))}
            </select>
          </label>
        )}
      </PageHeader>
      {can("settings:read") && <Checklist />}
      {!can("analytics:read") ? (
        <p className="muted">Your role does not show analytics.</p>
      ) : figures.error ? (
        <ErrorState message={figures.error} retry={figures.reload} />
      ) : !figures.data || currencies.loading ? (
        <p className="muted">Loading…</p>
      ) : totals && totals.payments === 0n && totals.volume === 0n ? (
        <div className="empty" role="status">
          No payments in {currency} in the last {DAYS} days. Create one with your API key (see{" "}
          <a href={href(["developers", "docs"])}>Docs</a>) and it shows up here.
        </div>
      ) : (
        <>
          <div className="tiles" aria-label={`Last ${DAYS} days`}>
            <div className="tile">
              <span>Volume, last {DAYS} days</span>
              <strong data-testid="volume">{formatAmount(totals?.volume ?? 0n, currency)}</strong>
            </div>
            <div className="tile">
              <span>Success rate</span>
              <strong data-testid="success-rate">
                {totals && totals.payments > 0n ? `${(totals.successRate * 100).toFixed(1)} %` : "—"}
              </strong>
            </div>
            <div className="tile">
              <span>Payments (declined)</span>
              <strong>
                {totals?.payments.toString()} ({totals?.failed.toString()})
              </strong>
            </div>
            <div className="tile">
              <span>Refunds</span>
              <strong>{formatAmount(totals?.refunds ?? 0n, currency)}</strong>
            </div>
            <div className="tile">
              <span>Fees</span>
              <strong>{formatAmount(totals?.fees ?? 0n, currency)}</strong>
            </div>
            <div className="tile">
              <span>Net</span>
              <strong data-testid="net">{formatAmount(totals?.net ?? 0n, currency)}</strong>
            </div>
          </div>
          {buckets.length > 0 && (
            <div className="charts">
              <VolumeChart buckets={buckets} currency={currency} />
              <SuccessChart buckets={buckets} />
            </div>
          )}
          {(figures.data.declineReasons ?? []).length > 0 && (
            <section>
              <h2>Why payments were declined</h2>
              <table className="table">
                <tbody>
                  {figures.data.declineReasons.map((r) => (
                    <tr key={r.reason}>
                      <td>{r.reason}</td>
                      <td className="num">{r.count.toString()}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          )}
        </>
      )}
    </>
  );
}
