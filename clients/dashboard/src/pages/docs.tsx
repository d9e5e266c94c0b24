// Developer docs: the integration guide, whose samples carry the merchant's own test keys,
// and the API reference rendered from docs/openapi.json (fetched from this origin).

import { useState } from "react";
import { apiKeys as keysPb } from "@paygate/client";
import { useDashboard } from "../context";
import { samples, type GuideKeys } from "../guide";
import { fieldsOf, filterGroups, groupsOf, type Endpoint, type OpenApi, type Schema } from "../openapi";
import { ErrorState, Notice, PageHeader, idempotencyKey, useAction, useLoad } from "../ui";

function Fields(props: { doc: OpenApi; schema: Schema | null; depth?: number }) {
  const fields = props.schema ? fieldsOf(props.doc, props.schema) : [];
  if (!fields.length) return <p className="muted">No fields.</p>;
  const depth = props.depth ?? 0;
  return (
    <table className="table fields">
      <tbody>
        {fields.map((f) => (
          <tr key={f.name}>
            <td>
              <code>{f.name}</code>
              {f.required && <span className="badge warn">required</span>}
            </td>
            <td className="muted">{f.type}</td>
            <td>
              {f.description}
              {f.schema && depth < 3 && (
                <details>
                  <summary>Fields of {f.name}</summary>
                  <Fields doc={props.doc} schema={f.schema} depth={depth + 1} />
                </details>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EndpointView(props: { doc: OpenApi; endpoint: Endpoint }) {
  const e = props.endpoint;
  return (
    <details className="endpoint" id={e.id}>
      <summary>
        <span className={`method ${e.method.toLowerCase()}`}>{e.method}</span> <code>{e.path}</code>{" "}
        <span className="muted">{e.summary}</span>
      </summary>
      {e.description && <p>{e.description}</p>}
      <p className="muted">{e.authenticated ? "Authorization: Bearer <secret key or session>" : "No credential."}</p>
      {e.parameters.length > 0 && (
        <>
          <h4>Parameters</h4>
          <table className="table fields">
            <tbody>
              {e.parameters.map((p) => (
                <tr key={p.name}>
                  <td>
                    <code>{p.name}</code>
                    {p.required && <span className="badge warn">required</span>}
                  </td>
                  <td className="muted">{p.type}</td>
                  <td>{p.description}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {e.body && (
        <>
          <h4>Request body</h4>
          <Fields doc={props.doc} schema={e.body} />
        </>
      )}
      <h4>Answer</h4>
      <Fields doc={props.doc} schema={e.answer} />
      <p className="muted">Errors: {e.errors.join(", ")} (a google.rpc.Status as JSON).</p>
    </details>
  );
}

function Reference() {
  const [query, setQuery] = useState("");
  const doc = useLoad(async () => {
    const answer = await fetch("dashboard/assets/openapi.json");
    if (!answer.ok) throw new Error(`The API reference could not be loaded (HTTP ${answer.status}).`);
    return (await answer.json()) as OpenApi;
  }, []);
  if (doc.error) return <ErrorState message={doc.error} retry={doc.reload} />;
  if (!doc.data) return <p className="muted">Loading the API reference…</p>;
  const groups = filterGroups(groupsOf(doc.data), query);
  return (
    <section aria-label="API reference">
      <h2>API reference</h2>
      <input
        className="search"
        aria-label="Filter endpoints"
        placeholder="Filter: refund, POST /v1/payouts…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      {groups.length === 0 && <p className="muted">No endpoint matches “{query}”.</p>}
      {groups.map((g) => (
        <section key={g.name} className="api-group">
          <h3>{g.name}</h3>
          {g.endpoints.map((e) => (
            <EndpointView key={e.id} doc={doc.data!} endpoint={e} />
          ))}
        </section>
      ))}
    </section>
  );
}

function Guide() {
  const { api, baseUrl, can, livemode } = useDashboard();
  const action = useAction();
  const [keys, setKeys] = useState<GuideKeys>({ baseUrl, secretKey: "", publishableKey: "" });
  // Test keys made for the guide: shown in its samples while this page is open, never stored.
  const makeKeys = () =>
    action.run(async () => {
      const headers = () => ({ headers: { "idempotency-key": idempotencyKey() } });
      const secret = await api.apiKeys.createApiKey({ type: keysPb.ApiKey_Type.SECRET, role: keysPb.Role.DEVELOPER }, headers());
      const publishable = await api.apiKeys.createApiKey({ type: keysPb.ApiKey_Type.PUBLISHABLE }, headers());
      setKeys({ baseUrl, secretKey: secret.secret, publishableKey: publishable.secret });
      return "Test keys created for this guide: they are in the samples below. Copy them now; they are not shown again.";
    });
  return (
    <section aria-label="Integration guide">
      <h2>Integration guide</h2>
      <p>
        Take a payment in three steps: create a payment intent on your server, send the shopper to the hosted checkout
        (or open it on your page with checkout.js), and trust the outcome only from a verified webhook.
      </p>
      {can("api_keys:write") && !keys.secretKey && livemode && (
        <p className="muted">Switch to test mode to create test keys for these samples: keys made here would be live keys.</p>
      )}
      {can("api_keys:write") && !keys.secretKey && !livemode && (
        <button type="button" className="primary" disabled={action.busy} onClick={makeKeys}>
          Create test keys for these samples
        </button>
      )}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      {samples(keys).map((s) => (
        <article key={s.id} className="sample">
          <h3>{s.title}</h3>
          <p className="muted">{s.note}</p>
          <pre>
            <code data-sample={s.id} data-language={s.language}>
              {s.text}
            </code>
          </pre>
        </article>
      ))}
    </section>
  );
}

export function Docs() {
  return (
    <>
      <PageHeader title="Docs" />
      <Guide />
      <Reference />
    </>
  );
}
