// The checkout's device fingerprint (clients/web/checkout/device.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import { deviceFingerprint, type DeviceEnvironment } from "../checkout/device";

function memoryStorage(): Pick<Storage, "getItem" | "setItem"> {
  const items = new Map<string, string>();
  return {
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
  };
}

let ids = 0;
function environment(overrides: Partial<DeviceEnvironment> = {}): DeviceEnvironment {
  return {
    traits: {
      userAgent: "Mozilla/5.0 Test",
      language: "en-GB",
      timeZone: "Europe/London",
      screen: "1920x1080x24",
    },
    storage: memoryStorage(),
    randomId: () => `id-${++ids}`,
    sha256Hex: async (text) => createHash("sha256").update(text).digest("hex"),
    ...overrides,
  };
}

describe("device fingerprint", () => {
  test("is dev_ and 32 hex digits, the same on every visit of one browser", async () => {
    const env = environment();
    const first = await deviceFingerprint(env);
    assert.match(first, /^dev_[0-9a-f]{32}$/);
    assert.equal(await deviceFingerprint(env), first);
  });

  test("two browsers with the same traits are two devices", async () => {
    const a = await deviceFingerprint(environment());
    const b = await deviceFingerprint(environment());
    assert.notEqual(a, b);
  });

  test("without storage the traits alone make it, stable but shared", async () => {
    const a = await deviceFingerprint(environment({ storage: null }));
    const b = await deviceFingerprint(environment({ storage: null }));
    assert.equal(a, b);
    const refusing: Pick<Storage, "getItem" | "setItem"> = {
      getItem: () => {
        throw new Error("SecurityError");
      },
      setItem: () => undefined,
    };
    assert.equal(await deviceFingerprint(environment({ storage: refusing })), a);
  });

  test("another browser build is another device", async () => {
    const env = environment({ storage: null });
    const other = environment({
      storage: null,
      traits: { ...env.traits, userAgent: "Mozilla/5.0 Other" },
    });
    assert.notEqual(await deviceFingerprint(env), await deviceFingerprint(other));
  });
});
