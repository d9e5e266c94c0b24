// Money: the balance and its transactions, settlements (with their reports), payouts and
// disputes (with the evidence form).

import { useState } from "react";
import { balance as balancePb, disputes as disputesPb, payouts as payoutsPb, settlements as settlementsPb } from "@paygate/client";
import { useDashboard } from "../context";
import { parseAmount } from "../money";
import { href } from "../route";
import { ActionForm, ErrorState, Money, Notice, PagedTable, PageHeader, Status, When, enumLabel, idempotencyKey, saveFile, useAction, useLoad } from "../ui";

const names = (e: object) => e as unknown as Record<number, string>;

function Amounts(props: { title: string; amounts: balancePb.Amount[]; testId: string }) {
  return (
    <div className="tile">
      <span>{props.title}</span>
      <strong data-testid={props.testId}>
        {props.amounts.length === 0
          ? "—"
          : props.amounts.map((a) => (
              <div key={a.currency}>
                <Money amount={a.amount} currency={a.currency} />
              </div>
            ))}
      </strong>
    </div>
  );
}

export function Balance() {
  const { api } = useDashboard();
  const [type, setType] = useState(0);
  const balance = useLoad(() => api.balance.getBalance({}), []);
  const TYPES = names(balancePb.BalanceTransaction_Type);
  return (
    <>
      <PageHeader title="Balance">
        <label>
          Type{" "}
          <select aria-label="Transaction type" value={type} onChange={(e) => setType(Number(e.target.value))}>
            <option value={0}>All</option>
            {Object.values(balancePb.BalanceTransaction_Type)
              .filter((v): v is number => typeof v === "number" && v > 0)
              .map((v) => (
                <option key={v} value={v}>
                  {enumLabel(TYPES, v)}
                </option>
              ))}
          </select>
        </label>
      </PageHeader>
      {balance.error ? (
        <ErrorState message={balance.error} retry={balance.reload} />
      ) : balance.data ? (
        <div className="tiles">
          <Amounts title="Available" amounts={balance.data.available} testId="available" />
          <Amounts title="Pending" amounts={balance.data.pending} testId="pending" />
          <Amounts title="Reserved" amounts={balance.data.reserved} testId="reserved" />
        </div>
      ) : (
        <p className="muted">Loading…</p>
      )}
      <h2>Transactions</h2>
      <PagedTable<balancePb.BalanceTransaction>
        label="Balance transactions"
        filters={[type]}
        load={(after, limit) => api.balance.listBalanceTransactions({ type, limit, startingAfter: after })}
        empty="No balance transactions yet: captured payments, refunds and fees appear here."
        columns={[
          { title: "Type", cell: (t) => enumLabel(TYPES, t.type) },
          { title: "Amount", cell: (t) => <Money amount={t.amount} currency={t.currency} />, numeric: true },
          { title: "Fee", cell: (t) => <Money amount={t.fee} currency={t.currency} />, numeric: true },
          { title: "Net", cell: (t) => <Money amount={t.net} currency={t.currency} />, numeric: true },
          {
            title: "Source",
            cell: (t) => (t.source.startsWith("pi_") ? <a href={href(["payments", t.source])}>{t.source}</a> : t.source),
          },
          { title: "Available on", cell: (t) => <When at={t.availableOn} /> },
        ]}
      />
    </>
  );
}

// The settlement's CSV, fetched with the session and handed to the browser as a file.
function ReportButton(props: { id: string }) {
  const { api } = useDashboard();
  const action = useAction();
  const download = () =>
    action.run(async () => {
      saveFile(await api.settlements.getSettlementReport({ id: props.id }), `${props.id}.csv`);
      return "Downloaded.";
    });
  return (
    <span>
      <button type="button" disabled={action.busy} onClick={download}>
        Report (CSV)
      </button>
      {action.message?.kind === "error" && <Notice kind="error">{action.message.text}</Notice>}
    </span>
  );
}

export function Settlements() {
  const { api } = useDashboard();
  return (
    <>
      <PageHeader title="Settlements" />
      <PagedTable<settlementsPb.Settlement>
        label="Settlements"
        load={(after, limit) => api.settlements.listSettlements({ limit, startingAfter: after })}
        empty="No settlements yet: captured payments are settled daily after their cut-off."
        columns={[
          { title: "Day", cell: (s) => s.day },
          { title: "Status", cell: (s) => <Status names={names(settlementsPb.Settlement_Status)} value={s.status} /> },
          { title: "Transactions", cell: (s) => s.transactionCount.toString(), numeric: true },
          { title: "Gross", cell: (s) => <Money amount={s.amount} currency={s.currency} />, numeric: true },
          { title: "Fees", cell: (s) => <Money amount={s.fee} currency={s.currency} />, numeric: true },
          { title: "Net", cell: (s) => <Money amount={s.net} currency={s.currency} />, numeric: true },
          { title: "Report", cell: (s) => <ReportButton id={s.id} /> },
        ]}
      />
    </>
  );
}

export function Payouts() {
  const { api, can } = useDashboard();
  const action = useAction();
  const [amount, setAmount] = useState("");
  const [currency, setCurrency] = useState("USD");
  const [refresh, setRefresh] = useState(0);
  const create = () =>
    action.run(async () => {
      const minor = parseAmount(amount, currency);
      if (typeof minor === "string") throw new Error(minor);
      const payout = await api.payouts.createPayout(
        { amount: minor, currency, description: "Payout from the dashboard" },
        { headers: { "idempotency-key": idempotencyKey() } },
      );
      setAmount("");
      setRefresh((n) => n + 1);
      return `Payout ${payout.id} created.`;
    });
  return (
    <>
      <PageHeader title="Payouts" />
      {can("payouts:write") && (
        <ActionForm
          className="inline card"
          label="New payout"
          onSubmit={create}
        >
          <label>
            Amount
            <input value={amount} onChange={(e) => setAmount(e.target.value)} required placeholder="100.00" />
          </label>
          <label>
            Currency
            <input value={currency} onChange={(e) => setCurrency(e.target.value.toUpperCase())} maxLength={3} required />
          </label>
          <button type="submit" className="primary" disabled={action.busy}>
            Pay out
          </button>
        </ActionForm>
      )}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <PagedTable<payoutsPb.Payout>
        label="Payouts"
        refresh={refresh}
        load={(after, limit) => api.payouts.listPayouts({ limit, startingAfter: after })}
        empty="No payouts yet: money you pay out from your available balance appears here."
        columns={[
          { title: "Payout", cell: (p) => <code>{p.id}</code> },
          { title: "Amount", cell: (p) => <Money amount={p.amount} currency={p.currency} />, numeric: true },
          { title: "Status", cell: (p) => <Status names={names(payoutsPb.Payout_Status)} value={p.status} /> },
          { title: "Created", cell: (p) => <When at={p.created} /> },
        ]}
      />
    </>
  );
}

const EVIDENCE_FIELDS: [keyof disputesPb.DisputeEvidence & string, string][] = [
  ["productDescription", "Product or service description"],
  ["customerCommunication", "Communication with the customer"],
  ["receipt", "Receipt"],
  ["shippingDocumentation", "Shipping documentation"],
  ["uncategorizedText", "Anything else"],
];

function EvidenceForm(props: { dispute: disputesPb.Dispute; done: () => void }) {
  const { api } = useDashboard();
  const action = useAction();
  const [evidence, setEvidence] = useState<Record<string, string>>({});
  const submit = () =>
    action.run(async () => {
      await api.disputes.submitDisputeEvidence(
        { id: props.dispute.id, evidence },
        { headers: { "idempotency-key": idempotencyKey() } },
      );
      props.done();
      return "Evidence submitted.";
    });
  return (
    <ActionForm className="card" label={`Evidence for ${props.dispute.id}`} onSubmit={submit}>
      <h3>Evidence for {props.dispute.id}</h3>
      {EVIDENCE_FIELDS.map(([field, label]) => (
        <label key={field}>
          {label}
          <textarea
            maxLength={20000}
            value={evidence[field] ?? ""}
            onChange={(e) => setEvidence({ ...evidence, [field]: e.target.value })}
          />
        </label>
      ))}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <button type="submit" className="primary" disabled={action.busy}>
        Submit evidence
      </button>
    </ActionForm>
  );
}

export function Disputes() {
  const { api, can } = useDashboard();
  const [open, setOpen] = useState<disputesPb.Dispute | null>(null);
  const [refresh, setRefresh] = useState(0);
  const STATUS = names(disputesPb.Dispute_Status);
  return (
    <>
      <PageHeader title="Disputes" />
      {open && (
        <EvidenceForm
          dispute={open}
          done={() => {
            setOpen(null);
            setRefresh((n) => n + 1);
          }}
        />
      )}
      <PagedTable<disputesPb.Dispute>
        label="Disputes"
        refresh={refresh}
        load={(after, limit) => api.disputes.listDisputes({ limit, startingAfter: after })}
        empty={<>No disputes. When a cardholder disputes a payment, it appears here with a deadline to respond.</>}
        columns={[
          { title: "Dispute", cell: (d) => <code>{d.id}</code> },
          { title: "Payment", cell: (d) => <a href={href(["payments", d.paymentIntent])}>{d.paymentIntent}</a> },
          { title: "Amount", cell: (d) => <Money amount={d.amount} currency={d.currency} />, numeric: true },
          { title: "Reason", cell: (d) => d.reason },
          { title: "Status", cell: (d) => <Status names={STATUS} value={d.status} /> },
          { title: "Respond by", cell: (d) => <When at={d.evidenceDueBy} /> },
          {
            title: "",
            cell: (d) =>
              can("disputes:write") && d.status === disputesPb.Dispute_Status.NEEDS_RESPONSE ? (
                <button type="button" onClick={() => setOpen(d)}>
                  Submit evidence
                </button>
              ) : null,
          },
        ]}
      />
    </>
  );
}

