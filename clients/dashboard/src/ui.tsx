// The dashboard's building blocks: loading a call's answer, a paged table with its empty
// and error states, and the small pieces every page shows (amounts, dates, statuses).

import { useCallback, useEffect, useState, type ReactNode } from "react";
import { describeError } from "./api";
import { formatAmount } from "./money";
import { cursorOf, firstPage, nextPage, pageNumber, previousPage, type Pager } from "./paging";

export const PAGE_SIZE = 20;

export interface Loaded<T> {
  data?: T;
  error: string;
  loading: boolean;
  reload: () => void;
}

// The answer of `load`, called again whenever `deps` change or reload() is called.
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error: string; loading: boolean }>({ error: "", loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true, error: "" }));
    load().then(
      (data) => live && setState({ data, error: "", loading: false }),
      (error) => live && setState({ error: describeError(error), loading: false }),
    );
    return () => {
      live = false;
    };
    // `load` is a new closure each render: the caller's deps say when its answer changes.
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ReactNode;
  numeric?: boolean;
}

export interface PageOf<T> {
  data: T[];
  hasMore: boolean;
}

// A list of the API, a page at a time (Previous / Next), with designed loading, empty
// and error states. `filters` restart it from the first page when they change.
export function PagedTable<T extends { id?: string; userId?: string }>(props: {
  label: string;
  load: (startingAfter: string, limit: number) => Promise<PageOf<T>>;
  columns: Column<T>[];
  filters?: unknown[];
  empty: ReactNode;
  rowHref?: (row: T) => string;
  refresh?: number;
}) {
  const [pager, setPager] = useState<Pager>(firstPage());
  const filterKey = JSON.stringify(props.filters ?? [], (_, v) => (typeof v === "bigint" ? v.toString() : v));
  useEffect(() => setPager(firstPage()), [filterKey]);
  const page = useLoad(() => props.load(cursorOf(pager), PAGE_SIZE), [pager, filterKey, props.refresh]);
  const rows = page.data?.data ?? [];
  const keyOf = (row: T) => row.id ?? row.userId ?? "";
  return (
    <section aria-label={props.label} aria-busy={page.loading}>
      {page.error ? (
        <ErrorState message={page.error} retry={page.reload} />
      ) : !page.loading && rows.length === 0 && pageNumber(pager) === 1 ? (
        <EmptyState>{props.empty}</EmptyState>
      ) : (
        <table className="table">
          <thead>
            <tr>
              {props.columns.map((c) => (
                <th key={c.title} className={c.numeric ? "num" : undefined} scope="col">
                  {c.title}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr
                key={keyOf(row)}
                className={props.rowHref ? "link-row" : undefined}
                onClick={props.rowHref ? () => (location.hash = props.rowHref!(row)) : undefined}
              >
                {props.columns.map((c) => (
                  <td key={c.title} className={c.numeric ? "num" : undefined}>
                    {c.cell(row)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav className="pager" aria-label={`${props.label} pages`}>
        <button type="button" disabled={pageNumber(pager) === 1 || page.loading} onClick={() => setPager(previousPage(pager))}>
          Previous
        </button>
        <span>Page {pageNumber(pager)}</span>
        <button
          type="button"
          disabled={!page.data?.hasMore || page.loading}
          onClick={() => setPager(nextPage(pager, rows.length ? keyOf(rows[rows.length - 1]) : undefined))}
        >
          Next
        </button>
      </nav>
    </section>
  );
}

export function EmptyState(props: { children: ReactNode }) {
  return (
    <div className="empty" role="status">
      <svg viewBox="0 0 48 48" width="48" height="48" aria-hidden="true">
        <rect x="6" y="10" width="36" height="28" rx="4" fill="none" stroke="currentColor" strokeWidth="2" />
        <path d="M6 18h36" stroke="currentColor" strokeWidth="2" />
      </svg>
      <div>{props.children}</div>
    </div>
  );
}

export function ErrorState(props: { message: string; retry?: () => void }) {
  return (
    <div className="error-state" role="alert">
      <strong>Could not load this.</strong> <span>{props.message}</span>
      {props.retry && (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      )}
    </div>
  );
}

export function Notice(props: { kind: "ok" | "error"; children: ReactNode }) {
  return (
    <p className={`notice ${props.kind}`} role={props.kind === "error" ? "alert" : "status"}>
      {props.children}
    </p>
  );
}

export function Money(props: { amount: bigint; currency: string }) {
  return <span className="money">{formatAmount(props.amount, props.currency)}</span>;
}

export function When(props: { at?: { seconds: bigint } }) {
  if (!props.at || props.at.seconds === 0n) return <span className="muted">—</span>;
  const date = new Date(Number(props.at.seconds) * 1000);
  return <time dateTime={date.toISOString()}>{date.toISOString().replace("T", " ").slice(0, 16)} UTC</time>;
}

// An enum value's name as a label: REQUIRES_CAPTURE -> "Requires capture".
export function enumLabel(names: Record<number, string>, value: number): string {
  const name = names[value] ?? "UNKNOWN";
  return name.charAt(0) + name.slice(1).toLowerCase().replace(/_/g, " ");
}

const TONES: Record<string, string> = {
  SUCCEEDED: "good", PAID: "good", COMPLETED: "good", WON: "good",
  CANCELED: "muted", FAILED: "bad", LOST: "bad", NEEDS_RESPONSE: "warn",
  REQUIRES_CAPTURE: "warn", REQUIRES_ACTION: "warn",
};

export function Status(props: { names: Record<number, string>; value: number }) {
  const name = props.names[props.value] ?? "";
  return <span className={`badge ${TONES[name] ?? "neutral"}`}>{enumLabel(props.names, props.value)}</span>;
}

export function PageHeader(props: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{props.title}</h1>
      <div className="actions">{props.children}</div>
    </header>
  );
}

// A secret the API shows once: shown here once too, with a way to copy it.
export function ShownOnce(props: { label: string; value: string; onDone: () => void }) {
  return (
    <div className="shown-once" role="dialog" aria-label={props.label}>
      <p>
        <strong>{props.label}</strong>: copy it now, it will not be shown again.
      </p>
      <code className="secret" data-testid="secret-value">
        {props.value}
      </code>
      <div className="row">
        <button type="button" onClick={() => navigator.clipboard?.writeText(props.value)}>
          Copy
        </button>
        <button type="button" onClick={props.onDone}>
          Done
        </button>
      </div>
    </div>
  );
}

// A button that runs an API call, says it is busy meanwhile, and reports the outcome.
export function useAction(): {
  busy: boolean;
  message: { kind: "ok" | "error"; text: string } | null;
  run: (work: () => Promise<string>) => Promise<void>;
  clear: () => void;
} {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
  const run = async (work: () => Promise<string>) => {
    setBusy(true);
    setMessage(null);
    try {
      setMessage({ kind: "ok", text: await work() });
    } catch (error) {
      setMessage({ kind: "error", text: describeError(error) });
    } finally {
      setBusy(false);
    }
  };
  return { busy, message, run, clear: () => setMessage(null) };
}

// A form whose submit runs `onSubmit` instead of loading a page.
export function ActionForm(props: { label: string; className?: string; onSubmit: () => unknown; children: ReactNode }) {
  return (
    <form
      className={props.className}
      aria-label={props.label}
      onSubmit={(event) => {
        event.preventDefault();
        void props.onSubmit();
      }}
    >
      {props.children}
    </form>
  );
}

// A document the API answered (google.api.HttpBody: a report, an export) handed to the
// browser as a file download.
export function saveFile(body: { data: Uint8Array; contentType: string }, name: string): void {
  const url = URL.createObjectURL(new Blob([body.data as BlobPart], { type: body.contentType }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// An idempotency key per user action: a retried click is the same request.
export function idempotencyKey(): string {
  return `dash-${crypto.randomUUID()}`;
}
