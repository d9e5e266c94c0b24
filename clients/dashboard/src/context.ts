// What every page reads: the API, the session and what the user's role allows.

import { createContext, useContext } from "react";
import type { Api } from "./api";
import type { Membership, StoredSession } from "./session";

export interface Dashboard {
  api: Api;
  session: StoredSession;
  membership: Membership;
  can: (permission: string) => boolean;
  // Live mode or test mode (docs/dashboard.md): every call says which, and the API shows
  // that mode's objects only.
  livemode: boolean;
  switchMode: (livemode: boolean) => void;
  baseUrl: string;
  switchAccount: (accountId: string) => void;
  signOut: () => Promise<void>;
  // After joining an account: fetch the session's accounts again and act in the new one.
  reloadAccounts: () => Promise<void>;
}

export const DashboardContext = createContext<Dashboard | null>(null);

export function useDashboard(): Dashboard {
  const value = useContext(DashboardContext);
  if (!value) throw new Error("useDashboard outside the signed-in app");
  return value;
}
