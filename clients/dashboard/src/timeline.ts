// A payment's timeline: its events (the API's Event objects about it: the intent's own
// and its refunds' and disputes'), or, for a role that may not read events, what the
// intent and its refunds say themselves. Newest first.

export interface TimelineEntry {
  key: string;
  // Milliseconds since the epoch.
  at: number;
  title: string;
  detail: string;
}

interface Stamp {
  seconds: bigint;
}

interface IntentLike {
  id: string;
  created?: Stamp;
  canceledAt?: Stamp;
  cancellationReason: string;
}

interface RefundLike {
  id: string;
  created?: Stamp;
  amount: bigint;
  currency: string;
}

interface EventLike {
  id: string;
  type: string;
  created?: Stamp;
  data?: { object?: Record<string, unknown> };
}

const TITLES: Record<string, string> = {
  "payment_intent.created": "Payment created",
  "payment_intent.requires_action": "Waiting for the customer (3-D Secure or UPI)",
  "payment_intent.processing": "Processing",
  "payment_intent.amount_capturable_updated": "Authorized: ready to capture",
  "payment_intent.succeeded": "Payment succeeded",
  "payment_intent.payment_failed": "Payment failed",
  "payment_intent.canceled": "Payment canceled",
  "charge.refunded": "Refunded",
  "refund.created": "Refund created",
  "refund.updated": "Refund updated",
  "refund.failed": "Refund failed",
  "charge.dispute.created": "Disputed",
  "charge.dispute.closed": "Dispute closed",
};

const ms = (stamp?: Stamp) => Number(stamp?.seconds ?? 0n) * 1000;

// Whether an event is about the payment `id`: the object is the intent, or names it.
export function isAbout(event: EventLike, id: string): boolean {
  const object = event.data?.object ?? {};
  return object.id === id || object.payment_intent === id;
}

function detailOf(event: EventLike): string {
  const object = event.data?.object ?? {};
  const error = object.last_payment_error as { message?: string; decline_code?: string } | undefined;
  if (event.type === "payment_intent.payment_failed" && error) {
    return [error.decline_code, error.message].filter(Boolean).join(": ");
  }
  if (typeof object.id === "string" && object.id.startsWith("re_")) return object.id;
  return "";
}

export function timelineOf(intent: IntentLike, refunds: RefundLike[], events: EventLike[]): TimelineEntry[] {
  const about = events.filter((event) => isAbout(event, intent.id));
  const entries: TimelineEntry[] = about.length
    ? about.map((event) => ({
        key: event.id,
        at: ms(event.created),
        title: TITLES[event.type] ?? event.type,
        detail: detailOf(event),
      }))
    : [
        { key: "created", at: ms(intent.created), title: "Payment created", detail: "" },
        ...refunds.map((r) => ({ key: r.id, at: ms(r.created), title: "Refund created", detail: r.id })),
        ...(intent.canceledAt && intent.canceledAt.seconds > 0n
          ? [{ key: "canceled", at: ms(intent.canceledAt), title: "Payment canceled", detail: intent.cancellationReason }]
          : []),
      ];
  // Ids are time-ordered: within one second, the later event has the greater id.
  return entries.sort((a, b) => b.at - a.at || b.key.localeCompare(a.key));
}
