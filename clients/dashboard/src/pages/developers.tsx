// Developers: API keys (a new key is shown once; revoke; roll with a grace period) and
// webhook endpoints with their delivery log and retry.

import { useState } from "react";
import { apiKeys as keysPb, webhooks as hooksPb } from "@paygate/client";
import { useDashboard } from "../context";
import { ROLE_NAMES } from "../permissions";
import { ActionForm, Notice, PagedTable, PageHeader, ShownOnce, Status, When, enumLabel, idempotencyKey, useAction } from "../ui";

const names = (e: object) => e as unknown as Record<number, string>;
const ROLES = names(keysPb.Role);
const KEY_TYPES = names(keysPb.ApiKey_Type);
// A rolled key keeps working this long, so the new one can be deployed first.
const ROLL_GRACE_SECONDS = 24n * 3600n;

function keyState(key: keysPb.ApiKey): string {
  if (key.revokedAt && key.revokedAt.seconds > 0n) return "Revoked";
  if (key.expiresAt && key.expiresAt.seconds > 0n) return "Expiring (rolled)";
  return "Active";
}

export function ApiKeys() {
  const { api, can, livemode } = useDashboard();
  const action = useAction();
  const [type, setType] = useState(keysPb.ApiKey_Type.SECRET);
  const [role, setRole] = useState("DEVELOPER");
  const [shown, setShown] = useState<{ label: string; value: string } | null>(null);
  const [refresh, setRefresh] = useState(0);
  const writable = can("api_keys:write");
  const headers = () => ({ headers: { "idempotency-key": idempotencyKey() } });

  const create = () =>
    action.run(async () => {
      const key = await api.apiKeys.createApiKey(
        { type, role: type === keysPb.ApiKey_Type.SECRET ? keysPb.Role[role as keyof typeof keysPb.Role] : 0 },
        headers(),
      );
      setShown({ label: `New ${enumLabel(KEY_TYPES, key.type).toLowerCase()} key`, value: key.secret });
      setRefresh((n) => n + 1);
      return `Key ${key.prefix}… created.`;
    });
  const revoke = (key: keysPb.ApiKey) =>
    action.run(async () => {
      if (!confirm(`Revoke ${key.prefix}…${key.last4}? Requests with it will be refused at once.`)) return "Not revoked.";
      await api.apiKeys.revokeApiKey({ id: key.id }, headers());
      setRefresh((n) => n + 1);
      return `Key ${key.prefix}…${key.last4} revoked.`;
    });
  const roll = (key: keysPb.ApiKey) =>
    action.run(async () => {
      const rolled = await api.apiKeys.rollApiKey({ id: key.id, gracePeriodSeconds: ROLL_GRACE_SECONDS }, headers());
      setShown({ label: "Rolled key (the old one works for 24 hours)", value: rolled.secret });
      setRefresh((n) => n + 1);
      return "Key rolled.";
    });

  return (
    <>
      <PageHeader title="API keys" />
      {writable && (
        <ActionForm
          className="inline card"
          label="New key"
          onSubmit={create}
        >
          <label>
            Type
            <select aria-label="Key type" value={type} onChange={(e) => setType(Number(e.target.value))}>
              <option value={keysPb.ApiKey_Type.SECRET}>Secret (server side)</option>
              <option value={keysPb.ApiKey_Type.PUBLISHABLE}>Publishable (browser)</option>
            </select>
          </label>
          {type === keysPb.ApiKey_Type.SECRET && (
            <label>
              Role
              <select aria-label="Key role" value={role} onChange={(e) => setRole(e.target.value)}>
                {ROLE_NAMES.map((r) => (
                  <option key={r}>{r}</option>
                ))}
              </select>
            </label>
          )}
          <button type="submit" className="primary" disabled={action.busy}>
            Create key
          </button>
        </ActionForm>
      )}
      {shown && <ShownOnce label={shown.label} value={shown.value} onDone={() => setShown(null)} />}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <PagedTable<keysPb.ApiKey>
        label="API keys"
        refresh={refresh}
        load={(after, limit) => api.apiKeys.listApiKeys({ limit, startingAfter: after })}
        empty={`No ${livemode ? "live" : "test"} API keys yet: create one to call the API from your server. Keys belong to the mode they are made in.`}
        columns={[
          { title: "Key", cell: (k) => <code>{`${k.prefix}…${k.last4}`}</code> },
          { title: "Type", cell: (k) => enumLabel(KEY_TYPES, k.type) },
          { title: "Role", cell: (k) => (k.role ? ROLES[k.role] : "—") },
          { title: "State", cell: (k) => keyState(k) },
          { title: "Last used", cell: (k) => <When at={k.lastUsed} /> },
          { title: "Created", cell: (k) => <When at={k.created} /> },
          {
            title: "Actions",
            cell: (k) =>
              writable && keyState(k) !== "Revoked" ? (
                <span className="row">
                  <button type="button" onClick={() => roll(k)} aria-label={`Roll ${k.prefix}…${k.last4}`}>
                    Roll
                  </button>
                  <button type="button" className="danger" onClick={() => revoke(k)} aria-label={`Revoke ${k.prefix}…${k.last4}`}>
                    Revoke
                  </button>
                </span>
              ) : null,
          },
        ]}
      />
    </>
  );
}

function Deliveries(props: { endpoint: hooksPb.WebhookEndpoint }) {
  const { api, can } = useDashboard();
  const action = useAction();
  const [refresh, setRefresh] = useState(0);
  const retry = (delivery: hooksPb.WebhookDelivery) =>
    action.run(async () => {
      await api.webhooks.retryWebhookDelivery({ id: delivery.id }, { headers: { "idempotency-key": idempotencyKey() } });
      setRefresh((n) => n + 1);
      return `Delivery of ${delivery.event} queued again.`;
    });
  return (
    <section>
      <div className="row">
        <h2>Deliveries to {props.endpoint.url}</h2>
        <button type="button" onClick={() => setRefresh((n) => n + 1)}>
          Refresh
        </button>
      </div>
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <PagedTable<hooksPb.WebhookDelivery>
        label="Deliveries"
        refresh={refresh}
        filters={[props.endpoint.id]}
        load={(after, limit) => api.webhooks.listWebhookDeliveries({ webhookEndpoint: props.endpoint.id, limit, startingAfter: after })}
        empty="No deliveries yet: each event this endpoint listens to is sent here and logged."
        columns={[
          { title: "Event", cell: (d) => <code>{d.event}</code> },
          { title: "Status", cell: (d) => <Status names={names(hooksPb.WebhookDelivery_Status)} value={d.status} /> },
          { title: "Attempts", cell: (d) => d.attemptCount, numeric: true },
          {
            title: "Last answer",
            cell: (d) => {
              const last = d.attempts[d.attempts.length - 1];
              return last ? (last.statusCode ? `HTTP ${last.statusCode}` : last.error) : "—";
            },
          },
          { title: "Next attempt", cell: (d) => <When at={d.nextAttemptAt} /> },
          {
            title: "",
            cell: (d) =>
              can("webhooks:write") && d.status !== hooksPb.WebhookDelivery_Status.SUCCEEDED ? (
                <button type="button" onClick={() => retry(d)} aria-label={`Retry ${d.event}`}>
                  Retry
                </button>
              ) : null,
          },
        ]}
      />
    </section>
  );
}

export function Webhooks() {
  const { api, can } = useDashboard();
  const action = useAction();
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState("*");
  const [shown, setShown] = useState<string>("");
  const [selected, setSelected] = useState<hooksPb.WebhookEndpoint | null>(null);
  const [refresh, setRefresh] = useState(0);
  const writable = can("webhooks:write");
  const headers = () => ({ headers: { "idempotency-key": idempotencyKey() } });
  const create = () =>
    action.run(async () => {
      const endpoint = await api.webhooks.createWebhookEndpoint(
        { url, enabledEvents: events.split(",").map((e) => e.trim()).filter(Boolean) },
        headers(),
      );
      setShown(endpoint.secret);
      setUrl("");
      setRefresh((n) => n + 1);
      return `Endpoint ${endpoint.id} created.`;
    });
  const toggle = (endpoint: hooksPb.WebhookEndpoint) =>
    action.run(async () => {
      await api.webhooks.updateWebhookEndpoint({ id: endpoint.id, disabled: !endpoint.disabled }, headers());
      setRefresh((n) => n + 1);
      return endpoint.disabled ? "Endpoint enabled." : "Endpoint disabled.";
    });
  const remove = (endpoint: hooksPb.WebhookEndpoint) =>
    action.run(async () => {
      if (!confirm(`Delete the endpoint ${endpoint.url}?`)) return "Not deleted.";
      await api.webhooks.deleteWebhookEndpoint({ id: endpoint.id }, headers());
      if (selected?.id === endpoint.id) setSelected(null);
      setRefresh((n) => n + 1);
      return "Endpoint deleted.";
    });
  return (
    <>
      <PageHeader title="Webhooks" />
      {writable && (
        <ActionForm
          className="inline card"
          label="New endpoint"
          onSubmit={create}
        >
          <label>
            Endpoint URL
            <input type="url" value={url} onChange={(e) => setUrl(e.target.value)} required placeholder="https://example.com/hooks" />
          </label>
          <label>
            Events (comma-separated, * for all)
            <input value={events} onChange={(e) => setEvents(e.target.value)} required />
          </label>
          <button type="submit" className="primary" disabled={action.busy}>
            Add endpoint
          </button>
        </ActionForm>
      )}
      {shown && <ShownOnce label="Signing secret" value={shown} onDone={() => setShown("")} />}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <PagedTable<hooksPb.WebhookEndpoint>
        label="Webhook endpoints"
        refresh={refresh}
        load={(after, limit) => api.webhooks.listWebhookEndpoints({ limit, startingAfter: after })}
        empty="No endpoints yet: add one to be told of payments, refunds and disputes as they happen."
        columns={[
          { title: "URL", cell: (e) => <code>{e.url}</code> },
          { title: "Events", cell: (e) => e.enabledEvents.join(", ") },
          { title: "State", cell: (e) => (e.disabled ? `Disabled ${e.disabledReason}` : "Enabled") },
          { title: "Created", cell: (e) => <When at={e.created} /> },
          {
            title: "Actions",
            cell: (e) => (
              <span className="row">
                <button type="button" onClick={() => setSelected(e)}>
                  Deliveries
                </button>
                {writable && (
                  <>
                    <button type="button" onClick={() => toggle(e)}>
                      {e.disabled ? "Enable" : "Disable"}
                    </button>
                    <button type="button" className="danger" onClick={() => remove(e)}>
                      Delete
                    </button>
                  </>
                )}
              </span>
            ),
          },
        ]}
      />
      {selected && <Deliveries endpoint={selected} />}
    </>
  );
}
