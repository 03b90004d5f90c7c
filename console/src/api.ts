// The console's view of the messagedb API: the session token, RPC calls, SSE URLs, and the
// message arrays of SPEC §6.2 read without losing payload fidelity.
//
// The token lives in `sessionStorage` (gone when the tab closes) and travels only in the
// `Authorization: Bearer` header, except for `EventSource`, which cannot send headers and so
// gets `?token=` (SPEC §13.3). URLs are relative to the page (`/console`), so the console also
// works behind a reverse proxy that mounts messagedb under a path prefix.

import { elements, encode, Encodable, Raw } from "./json";

const TOKEN_KEY = "messagedb.console.token";

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed call: the server's error envelope, or `NETWORK_ERROR` when there was no answer. */
export class RpcError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "RpcError";
  }
}

/**
 * Calls one RPC method and returns the raw JSON text of its result. Arguments are encoded with
 * `encode`, so `Raw` payload text is sent exactly as typed.
 */
export async function rpcRaw(token: string, method: string, ...args: Encodable[]): Promise<string> {
  // Trailing optional arguments left undefined are omitted, not sent as `null` (which the
  // server rejects: "options must be an object").
  const present = [...args];
  while (present.length > 0 && present[present.length - 1] === undefined) present.pop();
  const body = encode([method, ...present]);
  let response: Response;
  try {
    response = await fetch("rpc", {
      method: "POST",
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body,
      cache: "no-store",
    });
  } catch (e) {
    throw new RpcError(0, "NETWORK_ERROR", "The server did not answer: " + String(e));
  }
  const text = await response.text();
  if (response.ok) return text;
  let envelope: { error?: { code?: string; message?: string; details?: unknown } } = {};
  try {
    envelope = JSON.parse(text);
  } catch {
    // Not a JSON envelope (a proxy's error page, say): show the status and the text.
  }
  const error = envelope.error;
  throw new RpcError(
    response.status,
    error?.code ?? "HTTP_" + response.status,
    error?.message ?? (text.trim() || response.statusText),
    error?.details,
  );
}

/** Calls one RPC method whose result has no user payloads, and parses it. */
export async function rpc<T>(token: string, method: string, ...args: Encodable[]): Promise<T> {
  return JSON.parse(await rpcRaw(token, method, ...args)) as T;
}

/**
 * The namespace id a token is for (SPEC §4.2: `ns_<base64url(id)>_<random>`, split at the last
 * `_`), or `null` when the token does not have that shape.
 */
export function namespaceOfToken(token: string): string | null {
  if (!token.startsWith("ns_")) return null;
  const rest = token.slice(3);
  const cut = rest.lastIndexOf("_");
  if (cut <= 0) return null;
  const b64 = rest.slice(0, cut).replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]*$/.test(b64)) return null;
  try {
    const binary = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const id = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return id === "" ? null : id;
  } catch {
    return null;
  }
}

/** The URL of an SSE subscription. `params` are the SPEC §8.1 parameters. */
export function subscribeUrl(token: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params);
  query.set("token", token);
  return "subscribe?" + query.toString();
}

/** A message as the console shows it. `data` and `metadata` are raw JSON text. */
export interface Message {
  id: string;
  stream: string;
  type: string;
  position: number;
  globalPosition: number;
  data: string;
  metadata: string;
  time: string;
}

/** One SSE poke (SPEC §8.3). */
export interface Poke {
  stream: string;
  position: number;
  globalPosition: number;
}

/** Reads a `stream.get` result (7-element arrays); `stream` is the stream that was read. */
export function streamMessages(raw: string, stream: string): Message[] {
  return (elements(raw) ?? []).map((item) => {
    const f = elements(item) ?? [];
    return {
      id: JSON.parse(f[0]),
      stream,
      type: JSON.parse(f[1]),
      position: JSON.parse(f[2]),
      globalPosition: JSON.parse(f[3]),
      data: f[4],
      metadata: f[5],
      time: JSON.parse(f[6]),
    };
  });
}

/** Reads a `category.get` result (8-element arrays, the stream name at index 1). */
export function categoryMessages(raw: string): Message[] {
  return (elements(raw) ?? []).map((item) => {
    const f = elements(item) ?? [];
    return {
      id: JSON.parse(f[0]),
      stream: JSON.parse(f[1]),
      type: JSON.parse(f[2]),
      position: JSON.parse(f[3]),
      globalPosition: JSON.parse(f[4]),
      data: f[5],
      metadata: f[6],
      time: JSON.parse(f[7]),
    };
  });
}

/** The category of a stream name: the text before the first `-` (SPEC §2.3). */
export function categoryOf(stream: string): string {
  const dash = stream.indexOf("-");
  return dash < 0 ? stream : stream.slice(0, dash);
}

export interface NamespaceInfo {
  namespace: string;
  description: string;
  createdAt: string;
  lastActivity: string | null;
  messageCount: number;
  streamCount: number;
}

export interface NamespaceSummary {
  namespace: string;
  description: string;
  createdAt: string;
  messageCount: number;
}

export interface CategorySummary {
  category: string;
  messageCount: number;
  streamCount: number;
}

export interface StreamSummary {
  stream: string;
  version: number;
  lastActivity: string;
}

export { Raw };

/** One message of the write form, as typed: `data` and `metadata` are the user's JSON text. */
export interface MessageDraft {
  stream: string;
  type: string;
  data: string;
  /** Empty when the user left it empty (then it is not sent). */
  metadata: string;
}

/**
 * The RPC call that writes `drafts` (at least one): one message is a `stream.write`, with
 * `expectedVersion` when given; several are one `stream.writeBatch` (SPEC §17), all or nothing,
 * with the expected version, when given, checked for the first message's stream. Payloads are
 * `Raw`, so they are sent exactly as typed; the version is `Raw` too, so a number beyond 2^53
 * keeps its digits and the server, not the browser, says whether it is acceptable.
 */
export function writeCall(drafts: MessageDraft[], expectedVersion: string): { method: string; args: Encodable[] } {
  const version = expectedVersion.trim() === "" ? undefined : new Raw(BigInt(expectedVersion.trim()).toString());
  const message = (d: MessageDraft) => ({
    type: d.type,
    data: new Raw(d.data),
    metadata: d.metadata.trim() === "" ? undefined : new Raw(d.metadata.trim()),
  });
  if (drafts.length === 1) {
    const [only] = drafts;
    return {
      method: "stream.write",
      args: [only.stream, message(only), version === undefined ? undefined : { expectedVersion: version }],
    };
  }
  const entries = drafts.map((d) => ({ stream: d.stream, ...message(d) }));
  return {
    method: "stream.writeBatch",
    args: [entries, version === undefined ? undefined : { expectedVersions: { [drafts[0].stream]: version } }],
  };
}

/** One entry of a `stream.writeBatch` result, in entry order. */
export interface BatchResult {
  stream: string;
  position: number;
  globalPosition: number;
  id: string;
}
