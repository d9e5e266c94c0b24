// The signed-in user's session: tokens, the accounts they belong to and the one they act
// in. Kept in sessionStorage (per tab, gone when the tab closes), never in a cookie: the
// API reads a bearer token, so no other site can make the browser use it.

export interface Membership {
  accountId: string;
  accountName: string;
  role: string;
}

export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  // Milliseconds since the epoch when the access token stops working.
  expiresAt: number;
  email: string;
  // usr_...: to tell the user's own doings (an invitation they sent) from others'.
  userId?: string;
  accounts: Membership[];
  accountId: string;
  // Live data (and live keys) or test data: sent as Paygate-Mode with every call, so the
  // API, not the page, decides what each mode sees. Absent: test mode.
  livemode?: boolean;
}

const KEY = "paygate.dashboard.session";

// Refresh this long before the access token expires, so a call in flight never carries an
// expired token.
export const REFRESH_MARGIN_MS = 60_000;

export function needsRefresh(session: StoredSession, now: number): boolean {
  return now >= session.expiresAt - REFRESH_MARGIN_MS;
}

// The account to act in: the one asked for when the user belongs to it, else the one
// used last, else the first.
export function chooseAccount(accounts: Membership[], wanted: string, previous = ""): string {
  const ids = accounts.map((a) => a.accountId);
  if (ids.includes(wanted)) return wanted;
  if (ids.includes(previous)) return previous;
  return ids[0] ?? "";
}

export function currentMembership(session: StoredSession): Membership | undefined {
  return session.accounts.find((a) => a.accountId === session.accountId);
}

export interface SessionStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function loadSession(store: SessionStore): StoredSession | null {
  try {
    const value = JSON.parse(store.getItem(KEY) ?? "null");
    if (value && typeof value.accessToken === "string" && Array.isArray(value.accounts)) return value;
  } catch {
    // A damaged entry is a signed-out tab.
  }
  return null;
}

export function saveSession(store: SessionStore, session: StoredSession | null): void {
  if (session) store.setItem(KEY, JSON.stringify(session));
  else store.removeItem(KEY);
}
