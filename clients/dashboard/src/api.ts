// The API as the dashboard calls it: every service's generated client over one gRPC-Web
// transport through Envoy, each call carrying the user's access token and the account
// they act in (Paygate-Account). The token is refreshed shortly before it expires.

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import {
  PaymentIntentService,
  analytics,
  apiError,
  apiKeys,
  auditLog,
  auth,
  balance,
  businessProfile,
  createHeaderTransport,
  disputes,
  events,
  members,
  payouts,
  refunds,
  settlements,
  webhooks,
  type ApiError,
} from "@paygate/client";
import { chooseAccount, needsRefresh, type Membership, type StoredSession } from "./session";

export interface Api {
  auth: Client<typeof auth.AuthService>;
  paymentIntents: Client<typeof PaymentIntentService>;
  refunds: Client<typeof refunds.RefundService>;
  balance: Client<typeof balance.BalanceService>;
  payouts: Client<typeof payouts.PayoutService>;
  settlements: Client<typeof settlements.SettlementService>;
  disputes: Client<typeof disputes.DisputeService>;
  apiKeys: Client<typeof apiKeys.ApiKeyService>;
  members: Client<typeof members.MemberService>;
  events: Client<typeof events.EventService>;
  webhooks: Client<typeof webhooks.WebhookEndpointService>;
  analytics: Client<typeof analytics.AnalyticsService>;
  businessProfile: Client<typeof businessProfile.BusinessProfileService>;
  auditLog: Client<typeof auditLog.AuditLogService>;
}

export interface SessionHolder {
  get(): StoredSession | null;
  set(session: StoredSession | null): void;
}

// The session a Login or Refresh answer starts, acting in `wanted` when the user
// belongs to it.
export function sessionFrom(answer: auth.Session, wanted: string, previous = ""): StoredSession {
  const accounts: Membership[] = answer.accounts.map((m) => ({
    accountId: m.account?.id ?? "",
    accountName: m.account?.name ?? "",
    role: apiKeys.Role[m.role] ?? "",
  }));
  return {
    accessToken: answer.accessToken,
    refreshToken: answer.refreshToken,
    expiresAt: Date.now() + Number(answer.expiresIn) * 1000,
    email: answer.user?.email ?? "",
    userId: answer.user?.id ?? "",
    accounts,
    accountId: chooseAccount(accounts, wanted, previous),
  };
}

// `fetch`: for tests, the fetch to send requests with.
export function createApi(baseUrl: string, holder: SessionHolder, fetch?: typeof globalThis.fetch): Api {
  // The bare auth client: it sends no session (login, signup, refresh).
  const open = createClient(auth.AuthService, createHeaderTransport(baseUrl, async () => ({}), [], fetch));
  let refreshing: Promise<void> | null = null;

  async function refresh(session: StoredSession): Promise<void> {
    try {
      const answer = await open.refresh({ refreshToken: session.refreshToken });
      holder.set({ ...sessionFrom(answer, session.accountId), livemode: session.livemode });
    } catch {
      holder.set(null); // expired or revoked: sign in again
    }
  }

  const sessionHeaders = async (): Promise<Record<string, string>> => {
    let session = holder.get();
    if (session && needsRefresh(session, Date.now())) {
      refreshing ??= refresh(session).finally(() => (refreshing = null));
      await refreshing;
      session = holder.get();
    }
    if (!session) return {};
    return {
      authorization: `Bearer ${session.accessToken}`,
      "paygate-account": session.accountId,
      "paygate-mode": session.livemode ? "live" : "test",
    };
  };
  // The session ended on the server (revoked, the user removed): sign the tab out, which
  // shows the sign-in page, rather than fail every call that follows.
  const signOutWhenRefused: Interceptor = (next) => async (request) => {
    try {
      return await next(request);
    } catch (error) {
      if (error instanceof ConnectError && error.code === Code.Unauthenticated) holder.set(null);
      throw error;
    }
  };
  const transport = createHeaderTransport(baseUrl, sessionHeaders, [signOutWhenRefused], fetch);
  return {
    auth: open,
    paymentIntents: createClient(PaymentIntentService, transport),
    refunds: createClient(refunds.RefundService, transport),
    balance: createClient(balance.BalanceService, transport),
    payouts: createClient(payouts.PayoutService, transport),
    settlements: createClient(settlements.SettlementService, transport),
    disputes: createClient(disputes.DisputeService, transport),
    apiKeys: createClient(apiKeys.ApiKeyService, transport),
    members: createClient(members.MemberService, transport),
    events: createClient(events.EventService, transport),
    webhooks: createClient(webhooks.WebhookEndpointService, transport),
    analytics: createClient(analytics.AnalyticsService, transport),
    businessProfile: createClient(businessProfile.BusinessProfileService, transport),
    auditLog: createClient(auditLog.AuditLogService, transport),
  };
}

export { apiError, type ApiError };

// What to tell the user about a failed call: the field at fault for bad input, a plain
// sentence for the codes a dashboard meets, the server's words otherwise.
export function describeError(error: unknown): string {
  const e = apiError(error);
  const param = e.metadata.param ? ` (${e.metadata.param})` : "";
  switch (e.code) {
    case "unauthenticated":
      return "Your session has ended. Sign in again.";
    case "permissionDenied":
      return "Your role in this account does not allow this.";
    case "notFound":
      return "Not found in this account.";
    case "resourceExhausted":
      return "Too many requests: wait a moment and try again.";
    case "unavailable":
      return "The gateway cannot be reached. Try again shortly.";
    case "invalidArgument":
    case "failedPrecondition":
      return `${e.message || "The request was refused"}${param}`;
    default:
      return e.message || "Something went wrong.";
  }
}
