// The merchant dashboard: /dashboard, served by the web role; views in the URL's fragment
// (route.ts). Everything it shows comes from the public API over gRPC-Web through Envoy
// with the signed-in user's session (api.ts).

import { createRoot } from "react-dom/client";
import { useEffect, useMemo, useState, type ReactNode } from "react";
import { createApi, sessionFrom, type SessionHolder } from "./api";
import { DashboardContext, type Dashboard } from "./context";
import { can } from "./permissions";
import { href, parseRoute, type Route } from "./route";
import { currentMembership, loadSession, saveSession, type StoredSession } from "./session";
import { SignIn } from "./pages/auth";
import { Overview } from "./pages/overview";
import { PaymentDetail, Payments } from "./pages/payments";
import { Balance, Disputes, Payouts, Settlements } from "./pages/money";
import { ApiKeys, Webhooks } from "./pages/developers";
import { Docs } from "./pages/docs";
import { Settings } from "./pages/settings";
import { AcceptInvitation, Team } from "./pages/team";

const baseUrl = location.origin;
const NEXT_KEY = "paygate.dashboard.next";

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return route;
}

interface NavItem {
  parts: string[];
  label: string;
  permission: string;
}

const NAV: NavItem[] = [
  { parts: ["overview"], label: "Overview", permission: "payments:read" },
  { parts: ["payments"], label: "Payments", permission: "payments:read" },
  { parts: ["balance"], label: "Balance", permission: "balance:read" },
  { parts: ["settlements"], label: "Settlements", permission: "balance:read" },
  { parts: ["payouts"], label: "Payouts", permission: "balance:read" },
  { parts: ["disputes"], label: "Disputes", permission: "disputes:read" },
  { parts: ["developers", "keys"], label: "API keys", permission: "api_keys:read" },
  { parts: ["developers", "webhooks"], label: "Webhooks", permission: "webhooks:read" },
  { parts: ["developers", "docs"], label: "Docs", permission: "" },
  { parts: ["team"], label: "Team", permission: "members:read" },
  { parts: ["settings"], label: "Settings", permission: "settings:read" },
];

function page(route: Route): ReactNode {
  const [first, second] = route.parts;
  switch (first) {
    case "payments":
      return second ? <PaymentDetail id={second} /> : <Payments query={route.query} />;
    case "balance":
      return <Balance />;
    case "settlements":
      return <Settlements />;
    case "payouts":
      return <Payouts />;
    case "disputes":
      return <Disputes />;
    case "developers":
      if (second === "keys") return <ApiKeys />;
      if (second === "webhooks") return <Webhooks />;
      return <Docs />;
    case "team":
      return <Team />;
    case "settings":
      return <Settings />;
    case "invitations":
      return <AcceptInvitation token={route.query.get("token") ?? ""} />;
    default:
      return <Overview />;
  }
}

function Shell(props: { dashboard: Dashboard; route: Route }) {
  const { session, membership, livemode } = props.dashboard;
  const active = props.route.parts.join("/") || "overview";
  return (
    <div className={`shell ${livemode ? "live" : "test"}`}>
      {!livemode && (
        <div className="mode-banner" role="note">
          Test mode: test data only, no real money moves.
        </div>
      )}
      <aside className="sidebar">
        <div className="brand">paygate</div>
        <label className="account">
          <span>Account</span>
          <select
            aria-label="Account"
            value={session.accountId}
            onChange={(e) => props.dashboard.switchAccount(e.target.value)}
          >
            {session.accounts.map((a) => (
              <option key={a.accountId} value={a.accountId}>
                {a.accountName || a.accountId}
              </option>
            ))}
          </select>
        </label>
        <nav aria-label="Sections">
          {NAV.filter((item) => !item.permission || props.dashboard.can(item.permission)).map((item) => {
            const path = item.parts.join("/");
            const current = active === path || active.startsWith(`${path}/`);
            return (
              <a key={path} href={href(item.parts)} aria-current={current ? "page" : undefined}>
                {item.label}
              </a>
            );
          })}
        </nav>
        <div className="who">
          <span className={`mode-pill ${livemode ? "live" : "test"}`}>{livemode ? "Live" : "Test"} mode</span>
          <label className="mode-toggle">
            <input
              type="checkbox"
              role="switch"
              aria-label="Test mode"
              checked={!livemode}
              onChange={(e) => props.dashboard.switchMode(!e.target.checked)}
            />
            Test mode
          </label>
          <span className="email">{session.email}</span>
          <span className="muted">Role: {membership.role}</span>
          <button type="button" onClick={() => props.dashboard.signOut()}>
            Sign out
          </button>
        </div>
      </aside>
      <main className="content" key={`${session.accountId} ${livemode ? "live" : "test"}`}>
        {page(props.route)}
      </main>
    </div>
  );
}

function App() {
  const route = useRoute();
  const [session, setSession] = useState<StoredSession | null>(() => loadSession(sessionStorage));
  const holder = useMemo<SessionHolder>(() => {
    let current = session;
    return {
      get: () => current,
      set: (next) => {
        current = next;
        saveSession(sessionStorage, next);
        setSession(next);
      },
    };
    // One holder for the page's life (made from the first state); set() keeps the two equal.
  }, []);
  const api = useMemo(() => createApi(baseUrl, holder), [holder]);
  useEffect(() => document.getElementById("app")?.setAttribute("aria-busy", "false"), []);
  const [first] = route.parts;
  // Signed in, the sign-in views lead to the overview.
  useEffect(() => {
    if (session && (first === "login" || first === "signup")) location.hash = href(["overview"]);
  }, [session, first]);

  if (!session) {
    // An invitation link opened signed out: back to it after signing in or up.
    if (first === "invitations") sessionStorage.setItem(NEXT_KEY, location.hash);
    return (
      <SignIn
        api={api}
        signup={first === "signup"}
        onSession={(answer) => {
          holder.set(sessionFrom(answer, ""));
          location.hash = sessionStorage.getItem(NEXT_KEY) || href(["overview"]);
          sessionStorage.removeItem(NEXT_KEY);
        }}
      />
    );
  }
  const membership = currentMembership(session) ?? { accountId: "", accountName: "", role: "" };
  const dashboard: Dashboard = {
    api,
    session,
    membership,
    baseUrl,
    livemode: session.livemode ?? false,
    can: (permission) => can(membership.role, permission),
    switchMode: (livemode) => holder.set({ ...session, livemode }),
    switchAccount: (accountId) => {
      holder.set({ ...session, accountId });
      location.hash = href(["overview"]);
    },
    signOut: async () => {
      try {
        await api.auth.logout({ refreshToken: session.refreshToken });
      } finally {
        holder.set(null);
        location.hash = href(["login"]);
      }
    },
    reloadAccounts: async () => {
      const answer = await api.auth.refresh({ refreshToken: session.refreshToken });
      const known = new Set(session.accounts.map((a) => a.accountId));
      const joined = answer.accounts.find((m) => m.account && !known.has(m.account.id))?.account?.id ?? "";
      holder.set({ ...sessionFrom(answer, joined, session.accountId), livemode: session.livemode });
    },
  };
  return (
    <DashboardContext.Provider value={dashboard}>
      <Shell dashboard={dashboard} route={route} />
    </DashboardContext.Provider>
  );
}

createRoot(document.getElementById("app")!).render(<App />);
