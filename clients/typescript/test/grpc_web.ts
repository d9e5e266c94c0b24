// A fetch answer as Envoy's gRPC-Web filter frames it, for tests of the clients built on
// the generated code (this client's, the dashboard's).

// gRPC-Web framing: a flag byte (0 data, 0x80 trailers) and a 4-byte big-endian length.
export function frame(flag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flag;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

export function grpcWebResponse(message: Uint8Array | null, trailers: Record<string, string>): Response {
  const text = Object.entries(trailers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const parts = [...(message ? [frame(0, message)] : []), frame(0x80, new TextEncoder().encode(text))];
  const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return new Response(body, { status: 200, headers: { "content-type": "application/grpc-web+proto" } });
}
