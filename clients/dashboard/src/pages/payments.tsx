// Payments: the list (status filter, search by id, pages) and one payment's detail with
// its refunds, its event timeline and the actions the user's role allows.

import { useState, type FormEvent } from "react";
import { PaymentIntent_Status as IntentStatus, refunds as refundsPb, type PaymentIntent } from "@paygate/client";
import { useDashboard } from "../context";
import { methodText } from "../method";
import { amountInput, parseAmount } from "../money";
import { href } from "../route";
import { ActionForm, ErrorState, Money, Notice, PagedTable, PageHeader, Status, When, enumLabel, idempotencyKey, useAction, useLoad } from "../ui";
import { timelineOf, type TimelineEntry } from "../timeline";

const STATUS_NAMES = IntentStatus as unknown as Record<number, string>;
const REFUND_STATUS = refundsPb.Refund_Status as unknown as Record<number, string>;
const FILTERABLE = [
  IntentStatus.SUCCEEDED, IntentStatus.REQUIRES_CAPTURE, IntentStatus.REQUIRES_PAYMENT_METHOD,
  IntentStatus.REQUIRES_ACTION, IntentStatus.PROCESSING, IntentStatus.CANCELED,
];
const CANCELABLE = [
  IntentStatus.REQUIRES_PAYMENT_METHOD, IntentStatus.REQUIRES_CONFIRMATION, IntentStatus.REQUIRES_ACTION,
  IntentStatus.REQUIRES_CAPTURE,
];

export function Payments(props: { query: URLSearchParams }) {
  const { api, livemode } = useDashboard();
  const status = Number(props.query.get("status") ?? "0");
  const [search, setSearch] = useState("");
  const [searchError, setSearchError] = useState("");

  async function find(event: FormEvent) {
    event.preventDefault();
    const id = search.trim();
    if (!/^pi_[\w-]+$/.test(id)) {
      setSearchError("A payment id starts with pi_");
      return;
    }
    setSearchError("");
    location.hash = href(["payments", id]);
  }

  return (
    <>
      <PageHeader title="Payments">
        <form className="inline" onSubmit={find} role="search">
          <input
            aria-label="Search by payment id"
            placeholder="pi_…"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
          <button type="submit">Find</button>
        </form>
        <label>
          Status{" "}
          <select
            aria-label="Status"
            value={status}
            onChange={(e) => (location.hash = href(["payments"], { status: e.target.value === "0" ? "" : e.target.value }))}
          >
            <option value="0">All</option>
            {FILTERABLE.map((s) => (
              <option key={s} value={s}>
                {enumLabel(STATUS_NAMES, s)}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>
      {searchError && <Notice kind="error">{searchError}</Notice>}
      <PagedTable<PaymentIntent>
        label="Payments"
        filters={[status]}
        load={(after, limit) => api.paymentIntents.listPaymentIntents({ status, limit, startingAfter: after })}
        rowHref={(row) => href(["payments", row.id])}
        empty={
          status
            ? `No ${livemode ? "live" : "test"} payments with this status.`
            : `No ${livemode ? "live" : "test"} payments yet: they appear here as soon as you create one${livemode ? " with a live key" : ""}.`
        }
        columns={[
          { title: "Amount", cell: (p) => <Money amount={p.amount} currency={p.currency} />, numeric: true },
          { title: "Status", cell: (p) => <Status names={STATUS_NAMES} value={p.status} /> },
          { title: "Payment", cell: (p) => <a href={href(["payments", p.id])}>{p.id}</a> },
          { title: "Description", cell: (p) => p.description || <span className="muted">—</span> },
          { title: "Created", cell: (p) => <When at={p.created} /> },
        ]}
      />
    </>
  );
}

function Timeline(props: { entries: TimelineEntry[] }) {
  if (!props.entries.length) return <p className="muted">No events yet.</p>;
  return (
    <ol className="timeline" aria-label="Timeline">
      {props.entries.map((entry) => (
        <li key={entry.key}>
          <span className="dot" aria-hidden="true" />
          <strong>{entry.title}</strong> <When at={{ seconds: BigInt(Math.floor(entry.at / 1000)) }} />
          {entry.detail && <div className="muted">{entry.detail}</div>}
        </li>
      ))}
    </ol>
  );
}

// How many of the latest payment events the timeline reads (100 a page).
const EVENT_PAGES = 3;

export function PaymentDetail(props: { id: string }) {
  const { api, can } = useDashboard();
  const action = useAction();
  const [refundAmount, setRefundAmount] = useState("");
  // Bumped after each action, so the refunds list reads again.
  const [refreshed, setRefreshed] = useState(0);
  const detail = useLoad(async () => {
    const intent = await api.paymentIntents.getPaymentIntent({ id: props.id });
    // The timeline's refunds (for roles that may not read events): the latest 100.
    const refunds = await api.refunds.listRefunds({ paymentIntent: props.id, limit: 100 });
    const events = [];
    let after = "";
    for (let page = 0; page < EVENT_PAGES && can("webhooks:read"); page++) {
      const answer = await api.events.listEvents({ limit: 100, startingAfter: after });
      events.push(...answer.data);
      if (!answer.hasMore || !answer.data.length) break;
      after = answer.data[answer.data.length - 1].id;
    }
    return { intent, timeline: timelineOf(intent, refunds.data, events) };
  }, [props.id]);

  if (detail.error) return <ErrorState message={detail.error} retry={detail.reload} />;
  if (!detail.data) return <p className="muted">Loading…</p>;
  const { intent } = detail.data;
  const refundable = intent.amountReceived - intent.amountRefunded;
  const canRefund = can("refunds:write") && intent.status === IntentStatus.SUCCEEDED && refundable > 0n;
  const canCapture = can("payments:write") && intent.status === IntentStatus.REQUIRES_CAPTURE;
  const canCancel = can("payments:write") && CANCELABLE.includes(intent.status);

  const refund = () =>
    action.run(async () => {
      const amount = refundAmount ? parseAmount(refundAmount, intent.currency) : refundable;
      if (typeof amount === "string") throw new Error(amount);
      await api.refunds.createRefund(
        { paymentIntent: intent.id, amount, reason: "requested_by_customer" },
        { headers: { "idempotency-key": idempotencyKey() } },
      );
      setRefundAmount("");
      detail.reload();
      setRefreshed((n) => n + 1);
      return "Refund created.";
    });
  const capture = () =>
    action.run(async () => {
      await api.paymentIntents.capturePaymentIntent({ id: intent.id }, { headers: { "idempotency-key": idempotencyKey() } });
      detail.reload();
      return "Captured.";
    });
  const cancel = () =>
    action.run(async () => {
      await api.paymentIntents.cancelPaymentIntent(
        { id: intent.id, cancellationReason: "requested_by_customer" },
        { headers: { "idempotency-key": idempotencyKey() } },
      );
      detail.reload();
      return "Canceled.";
    });

  return (
    <>
      <PageHeader title="Payment">
        {canCapture && (
          <button type="button" className="primary" disabled={action.busy} onClick={capture}>
            Capture
          </button>
        )}
        {canCancel && (
          <button type="button" disabled={action.busy} onClick={cancel}>
            Cancel payment
          </button>
        )}
      </PageHeader>
      <p>
        <a href={href(["payments"])}>← All payments</a>
      </p>
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <div className="detail-grid">
        <dl className="facts">
          <dt>Amount</dt>
          <dd data-testid="amount">
            <Money amount={intent.amount} currency={intent.currency} />
          </dd>
          <dt>Status</dt>
          <dd>
            <Status names={STATUS_NAMES} value={intent.status} />
          </dd>
          <dt>Id</dt>
          <dd>
            <code>{intent.id}</code>
          </dd>
          <dt>Received</dt>
          <dd>
            <Money amount={intent.amountReceived} currency={intent.currency} />
          </dd>
          <dt>Refunded</dt>
          <dd data-testid="refunded">
            <Money amount={intent.amountRefunded} currency={intent.currency} />
          </dd>
          <dt>Payment method</dt>
          <dd data-testid="payment-method">
            {methodText(intent.paymentMethodDetails) || "—"}
            {intent.paymentMethod && (
              <>
                {" "}
                <code>{intent.paymentMethod}</code>
              </>
            )}
          </dd>
          {intent.lastPaymentError?.code && (
            <>
              <dt>Last error</dt>
              <dd>
                {intent.lastPaymentError.code} {intent.lastPaymentError.declineCode} — {intent.lastPaymentError.message}
              </dd>
            </>
          )}
          <dt>Description</dt>
          <dd>{intent.description || "—"}</dd>
          <dt>Created</dt>
          <dd>
            <When at={intent.created} />
          </dd>
          <dt>Mode</dt>
          <dd>{intent.livemode ? "Live" : "Test"}</dd>
        </dl>
        <section>
          <h2>Timeline</h2>
          <Timeline entries={detail.data.timeline} />
        </section>
      </div>
      <section>
        <h2>Refunds</h2>
        {canRefund && (
          <ActionForm
            className="inline"
            label="Refund"
            onSubmit={refund}
          >
            <label>
              Amount to refund ({intent.currency})
              <input
                value={refundAmount}
                placeholder={amountInput(refundable, intent.currency)}
                onChange={(e) => setRefundAmount(e.target.value)}
              />
            </label>
            <button type="submit" className="primary" disabled={action.busy}>
              Refund
            </button>
          </ActionForm>
        )}
        <PagedTable<refundsPb.Refund>
          label="Refunds"
          refresh={refreshed}
          filters={[intent.id]}
          load={(after, limit) => api.refunds.listRefunds({ paymentIntent: intent.id, limit, startingAfter: after })}
          empty="No refunds."
          columns={[
            { title: "Refund", cell: (r) => <code>{r.id}</code> },
            { title: "Amount", cell: (r) => <Money amount={r.amount} currency={r.currency} />, numeric: true },
            { title: "Status", cell: (r) => <Status names={REFUND_STATUS} value={r.status} /> },
            { title: "Reason", cell: (r) => r.reason || "—" },
            { title: "Created", cell: (r) => <When at={r.created} /> },
          ]}
        />
      </section>
    </>
  );
}
