// The team: members and their roles, invitations (a link the invitee opens) pending until
// accepted, revoked or re-sent, and accepting one.

import { useState } from "react";
import { apiKeys as keysPb, members as membersPb } from "@paygate/client";
import { apiError } from "../api";
import { useDashboard } from "../context";
import { ROLE_NAMES, assignableRoles, summaryOf } from "../permissions";
import { href } from "../route";
import { ActionForm, Notice, PagedTable, PageHeader, When, idempotencyKey, useAction } from "../ui";

const ROLES = keysPb.Role as unknown as Record<number, string>;
const PENDING = membersPb.Invitation_Status.PENDING;
const roleValue = (name: string) => keysPb.Role[name as keyof typeof keysPb.Role];

// The link the invitee opens: this dashboard, at the accept view with the token.
export function invitationLink(baseUrl: string, token: string): string {
  return `${baseUrl}/dashboard${href(["invitations", "accept"], { token })}`;
}

export function Team() {
  const { api, can, membership, session, baseUrl } = useDashboard();
  const action = useAction();
  const [email, setEmail] = useState("");
  const [role, setRole] = useState("STAFF");
  const [link, setLink] = useState("");
  const [refresh, setRefresh] = useState(0);
  const roles = assignableRoles(membership.role);
  const headers = () => ({ headers: { "idempotency-key": idempotencyKey() } });
  const invite = () =>
    action.run(async () => {
      const invitation = await api.members.createInvitation({ email, role: roleValue(role) }, headers());
      setLink(invitationLink(baseUrl, invitation.token));
      setEmail("");
      setRefresh((n) => n + 1);
      return `Invitation for ${invitation.email} created: send them the link below.`;
    });
  const resend = (invitation: membersPb.Invitation) =>
    action.run(async () => {
      const reissued = await api.members.resendInvitation({ id: invitation.id }, headers());
      setLink(invitationLink(baseUrl, reissued.token));
      setRefresh((n) => n + 1);
      return `New link for ${invitation.email}: the old one no longer works. Send them the link below.`;
    });
  const revoke = (invitation: membersPb.Invitation) =>
    action.run(async () => {
      if (!confirm(`Revoke the invitation of ${invitation.email}? Its link stops working.`)) return "Not revoked.";
      await api.members.revokeInvitation({ id: invitation.id }, headers());
      setLink("");
      setRefresh((n) => n + 1);
      return `Invitation of ${invitation.email} revoked: its link no longer works.`;
    });
  const changeRole = (member: membersPb.Member, next: string) =>
    action.run(async () => {
      await api.members.updateMemberRole({ userId: member.userId, role: roleValue(next) }, headers());
      setRefresh((n) => n + 1);
      return `${member.email} is now ${next}.`;
    });
  const remove = (member: membersPb.Member) =>
    action.run(async () => {
      if (!confirm(`Remove ${member.email} from this account?`)) return "Not removed.";
      await api.members.removeMember({ userId: member.userId }, headers());
      setRefresh((n) => n + 1);
      return `${member.email} removed.`;
    });
  return (
    <>
      <PageHeader title="Team" />
      {can("members:write") && (
        <ActionForm
          className="inline card"
          label="Invite a member"
          onSubmit={invite}
        >
          <label>
            Email
            <input type="email" aria-label="Invitee email" value={email} onChange={(e) => setEmail(e.target.value)} required />
          </label>
          <label>
            Role
            <select aria-label="Invitee role" value={role} onChange={(e) => setRole(e.target.value)}>
              {roles.map((r) => (
                <option key={r}>{r}</option>
              ))}
            </select>
          </label>
          <button type="submit" className="primary" disabled={action.busy}>
            Invite
          </button>
        </ActionForm>
      )}
      {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
      {link && (
        <p className="shown-once">
          Invitation link (shown once): <code data-testid="invitation-link">{link}</code>
        </p>
      )}
      {can("members:write") && (
        <>
          <h2>Pending invitations</h2>
          <PagedTable<membersPb.Invitation>
            label="Pending invitations"
            refresh={refresh}
            load={(after, limit) => api.members.listInvitations({ limit, startingAfter: after, status: PENDING })}
            empty="No pending invitations. An invitation waits here until it is accepted; revoke it to make its link useless."
            columns={[
              { title: "Email", cell: (i) => i.email },
              { title: "Role", cell: (i) => ROLES[i.role] },
              { title: "Invited by", cell: (i) => (i.invitedBy === session.userId ? "you" : i.invitedBy) },
              { title: "Sent", cell: (i) => <When at={i.created} /> },
              { title: "Expires", cell: (i) => <When at={i.expiresAt} /> },
              {
                title: "",
                cell: (i) => (
                  <span className="actions">
                    <button type="button" aria-label={`Resend invitation of ${i.email}`} onClick={() => resend(i)}>
                      Resend
                    </button>{" "}
                    <button type="button" className="danger" aria-label={`Revoke invitation of ${i.email}`} onClick={() => revoke(i)}>
                      Revoke
                    </button>
                  </span>
                ),
              },
            ]}
          />
          <h2>Members</h2>
        </>
      )}
      <PagedTable<membersPb.Member>
        label="Members"
        refresh={refresh}
        load={(after, limit) => api.members.listMembers({ limit, startingAfter: after })}
        empty="No members."
        columns={[
          { title: "Email", cell: (m) => m.email },
          {
            title: "Role",
            cell: (m) =>
              can("members:write") && m.email !== session.email ? (
                <select aria-label={`Role of ${m.email}`} value={ROLES[m.role]} onChange={(e) => changeRole(m, e.target.value)}>
                  {[...new Set([ROLES[m.role], ...roles])].map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              ) : (
                ROLES[m.role]
              ),
          },
          { title: "Joined", cell: (m) => <When at={m.created} /> },
          {
            title: "",
            cell: (m) =>
              can("members:write") && m.email !== session.email ? (
                <button type="button" className="danger" onClick={() => remove(m)}>
                  Remove
                </button>
              ) : null,
          },
        ]}
      />
      <h2>Roles</h2>
      <dl className="roles">
        {ROLE_NAMES.map((r) => (
          <div key={r}>
            <dt>{r}</dt>
            <dd>{summaryOf(r)}</dd>
          </div>
        ))}
      </dl>
    </>
  );
}

const LINK_REFUSED =
  "This invitation link does not work: it was revoked or replaced by a newer one, it has expired or was used, " +
  "or it is for another email address. Ask the account for a new invitation.";

export function AcceptInvitation(props: { token: string }) {
  const { api, reloadAccounts } = useDashboard();
  const action = useAction();
  return (
    <>
      <PageHeader title="Join an account" />
      {!props.token ? (
        <Notice kind="error">This invitation link has no token: open the link you were sent again.</Notice>
      ) : (
        <div className="card">
          <p>You were invited to join a merchant account. Accepting adds it to your accounts.</p>
          <button
            type="button"
            className="primary"
            disabled={action.busy}
            onClick={() =>
              action.run(async () => {
                try {
                  await api.members.acceptInvitation({ token: props.token }, { headers: { "idempotency-key": idempotencyKey() } });
                } catch (error) {
                  // The API does not say which (so that links cannot be probed); the user
                  // needs to know what to do next.
                  if (apiError(error).code === "notFound") throw new Error(LINK_REFUSED);
                  throw error;
                }
                await reloadAccounts();
                location.hash = href(["overview"]);
                return "Invitation accepted.";
              })
            }
          >
            Accept invitation
          </button>
          {action.message && <Notice kind={action.message.kind}>{action.message.text}</Notice>}
        </div>
      )}
    </>
  );
}
