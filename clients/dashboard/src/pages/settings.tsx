// Settings: the business profile (what shoppers see on the hosted checkout and their
// statements) and the audit log, with its export.

import { useEffect, useState } from "react";
import { PaymentIntent_CaptureMethod as CaptureMethod, auditLog as auditPb } from "@paygate/client";
import { useDashboard } from "../context";
import { ActionForm, ErrorState, Notice, PagedTable, PageHeader, Status, When, idempotencyKey, saveFile, useAction, useLoad } from "../ui";
import { changedFields, profileForm, type ProfileForm } from "../profile";

const TEXT_FIELDS: [keyof ProfileForm, string, string][] = [
  ["businessName", "Business name", "text"],
  ["statementDescriptor", "Statement descriptor", "text"],
  ["supportEmail", "Support email", "email"],
  ["supportUrl", "Support URL", "url"],
  ["country", "Country (ISO 3166, e.g. DE)", "text"],
  ["acceptedCurrencies", "Accepted currencies (comma-separated)", "text"],
  ["logoUrl", "Logo URL", "url"],
];

export function Settings() {
  const { api, can } = useDashboard();
  const action = useAction();
  const [saved, setSaved] = useState(0);
  const loaded = useLoad(() => api.businessProfile.getBusinessProfile({}), []);
  const [form, setForm] = useState<ProfileForm | null>(null);
  useEffect(() => {
    if (loaded.data) setForm(profileForm(loaded.data));
  }, [loaded.data]);
  const writable = can("settings:write");
  if (loaded.error) return <ErrorState message={loaded.error} retry={loaded.reload} />;
  if (!form || !loaded.data) return <p className="muted">Loading…</p>;
  const original = profileForm(loaded.data);
  const save = () =>
    action.run(async () => {
      const { profile, mask } = changedFields(original, form);
      if (!mask.length) return "Nothing changed.";
      await api.businessProfile.updateBusinessProfile(
        { profile, updateMask: mask },
        { headers: { "idempotency-key": idempotencyKey() } },
      );
      loaded.reload();
      setSaved((n) => n + 1);
      return "Business profile saved.";
    });
  return (
    <>
      <PageHeader title="Business profile" />
      <ActionForm
        className="card profile"
        label="Business profile"
        onSubmit={save}
      >
        <fieldset disabled={!writable || action.busy}>
          {TEXT_FIELDS.map(([field, label, type]) => (
            <label key={field}>
              {label}
              <input type={type} value={form[field]} onChange={(e) => setForm({ ...form, [field]: e.target.value })} />
            </label>
          ))}
          <label>
            Default capture
            <select
              value={form.defaultCaptureMethod}
              onChange={(e) => setForm({ ...form, defaultCaptureMethod: e.target.value })}
            >
              <option value={String(CaptureMethod.AUTOMATIC)}>Automatic (capture on authorization)</option>
              <option value={String(CaptureMethod.MANUAL)}>Manual (capture later)</option>
            </select>
          </label>
          <label>
            Brand colour
            <input type="color" value={form.brandingColor || "#3d5afe"} onChange={(e) => setForm({ ...form, brandingColor: e.target.value })} />
          </label>
          {writable && (
            <button type="submit" className="primary">
              Save
            </button>
          )}
        </fieldset>
        {!writable && <p className="muted">Your role may read the profile, not change it.</p>}
        {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      </ActionForm>
      {can("audit:read") && <AuditLog refresh={saved} />}
    </>
  );
}

const FORMATS = auditPb.ExportAuditEventsRequest_Format;

function AuditLog(props: { refresh: number }) {
  const { api } = useDashboard();
  const action = useAction();
  const [actor, setActor] = useState("");
  const [verb, setVerb] = useState("");
  const exportAs = (format: auditPb.ExportAuditEventsRequest_Format, extension: string) =>
    action.run(async () => {
      saveFile(await api.auditLog.exportAuditEvents({ actor, action: verb, format }), `audit-log.${extension}`);
      return `Exported as ${extension.toUpperCase()}.`;
    });
  return (
    <section>
      <h2>Audit log</h2>
      <div className="inline row">
        <label>
          Actor
          <input aria-label="Audit actor" value={actor} onChange={(e) => setActor(e.target.value)} placeholder="usr_… or key_…" />
        </label>
        <label>
          Action
          <input aria-label="Audit action" value={verb} onChange={(e) => setVerb(e.target.value)} placeholder="api_key.create" />
        </label>
        <button type="button" disabled={action.busy} onClick={() => exportAs(FORMATS.CSV, "csv")}>
          Export CSV
        </button>
        <button type="button" disabled={action.busy} onClick={() => exportAs(FORMATS.JSON, "json")}>
          Export JSON
        </button>
      </div>
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      <PagedTable<auditPb.AuditEvent>
        label="Audit events"
        refresh={props.refresh}
        filters={[actor, verb]}
        load={(after, limit) => api.auditLog.listAuditEvents({ actor, action: verb, limit, startingAfter: after })}
        empty="No audit events match."
        columns={[
          { title: "When", cell: (e) => <When at={e.occurredAt} /> },
          { title: "Action", cell: (e) => <code>{e.action}</code> },
          { title: "Outcome", cell: (e) => <Status names={auditPb.AuditEvent_Outcome as unknown as Record<number, string>} value={e.outcome} /> },
          { title: "Actor", cell: (e) => <code>{e.actor}</code> },
          { title: "Target", cell: (e) => <code>{e.target}</code> },
          { title: "Origin", cell: (e) => e.origin },
        ]}
      />
    </section>
  );
}

