// The device fingerprint the hosted checkout sends with ConfirmPaymentIntent, for the
// risk engine's device velocity rules (docs/risk.md).
//
// A random id kept in this origin's localStorage (the checkout's origin is the gateway's,
// so one browser keeps one id across every merchant's checkout), hashed together with a
// few stable traits of the browser, so that clearing the storage alone does not make a
// new device. Without storage (private windows, blocked storage) the traits alone are
// hashed. Nothing of it identifies the shopper to the merchant: only the SHA-256 leaves.

const STORAGE_KEY = "paygate.device";

export interface DeviceTraits {
  userAgent: string;
  language: string;
  timeZone: string;
  screen: string; // width x height x colour depth
}

export interface DeviceEnvironment {
  traits: DeviceTraits;
  storage?: Pick<Storage, "getItem" | "setItem"> | null;
  randomId: () => string;
  sha256Hex: (text: string) => Promise<string>;
}

/** `dev_` and 32 hex digits; the same for one browser from one visit to the next. */
export async function deviceFingerprint(env: DeviceEnvironment): Promise<string> {
  const id = storedId(env);
  const t = env.traits;
  const material = [id, t.userAgent, t.language, t.timeZone, t.screen].join("\n");
  return `dev_${(await env.sha256Hex(material)).slice(0, 32)}`;
}

function storedId(env: DeviceEnvironment): string {
  try {
    const kept = env.storage?.getItem(STORAGE_KEY);
    if (kept) return kept;
    const fresh = env.randomId();
    env.storage?.setItem(STORAGE_KEY, fresh);
    return env.storage ? fresh : "";
  } catch {
    return ""; // storage refused (a sandboxed frame, a full quota): the traits alone
  }
}

/** The browser's own environment for deviceFingerprint. */
export function browserEnvironment(): DeviceEnvironment {
  let storage: Storage | null = null;
  try {
    storage = window.localStorage;
  } catch {
    storage = null;
  }
  return {
    traits: {
      userAgent: navigator.userAgent,
      language: navigator.language,
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone ?? "",
      screen: `${screen.width}x${screen.height}x${screen.colorDepth}`,
    },
    storage,
    randomId: () => crypto.randomUUID(),
    sha256Hex: async (text) => {
      const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    },
  };
}
