// The dashboard's views live in the URL's fragment (#/payments/pi_123?status=SUCCEEDED):
// the server serves one page for all of them, and a reload or a shared link opens the
// same view.

export interface Route {
  // The path's segments: ["payments", "pi_123"].
  parts: string[];
  query: URLSearchParams;
}

export function parseRoute(hash: string): Route {
  const raw = hash.replace(/^#/, "");
  const [path, search = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  return { parts, query: new URLSearchParams(search) };
}

export function href(parts: string[], query: Record<string, string> = {}): string {
  const path = parts.map(encodeURIComponent).join("/");
  const search = new URLSearchParams(Object.entries(query).filter(([, value]) => value !== "")).toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}
