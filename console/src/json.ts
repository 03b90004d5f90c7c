// Raw JSON text handling for the console.
//
// messagedb returns `data` and `metadata` exactly as they were written (SPEC §2.6): key order,
// duplicate keys and number spellings such as `12345678901234567890` or `1.50` are user data.
// `JSON.parse` would lose all three, so the console never re-serialises a payload. Instead it
// cuts the raw text of each array element out of the RPC response (`elements`), and pretty-prints
// and highlights that text by re-flowing whitespace only (`pretty`). `JSON.parse` is used only to
// validate what a user typed and to read small non-payload values (positions, names, times).

/** A piece of pretty-printed JSON: its text and the highlight class it is shown with. */
export interface Token {
  kind: TokenKind;
  text: string;
}

export type TokenKind = "key" | "string" | "number" | "literal" | "punct" | "space" | "invalid";

/** JSON text that is put into a request body verbatim (see `encode`). */
export class Raw {
  constructor(readonly text: string) {}
}

/** A value for `encode`: plain JSON values, arrays and objects of them, and `Raw` text. */
export type Encodable =
  | Raw
  | string
  | number
  | boolean
  | null
  | undefined
  | Encodable[]
  | { [key: string]: Encodable };

/**
 * Serialises `value` as JSON, inserting `Raw` text as it is. Object entries whose value is
 * `undefined` are left out, so optional arguments can be written inline.
 */
export function encode(value: Encodable): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return "[" + value.map((v) => encode(v ?? null)).join(",") + "]";
  if (value !== null && typeof value === "object") {
    const parts: string[] = [];
    for (const [key, v] of Object.entries(value)) {
      if (v !== undefined) parts.push(JSON.stringify(key) + ":" + encode(v));
    }
    return "{" + parts.join(",") + "}";
  }
  return value === undefined ? "null" : JSON.stringify(value);
}

/** The index just past the string that starts at `start` (which holds `"`). */
function skipString(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x5c /* \ */) i += 2;
    else if (c === 0x22 /* " */) return i + 1;
    else i += 1;
  }
  return text.length;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * The raw text of each element of the JSON array `text`, in order, without surrounding
 * whitespace. Returns `null` when `text` is not an array. The input is trusted to be valid JSON
 * (it comes from the server); this only has to find the element boundaries.
 */
export function elements(text: string): string[] | null {
  let i = 0;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  if (text[i] !== "[") return null;
  i++;
  const out: string[] = [];
  let depth = 0;
  let start = -1;
  for (; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      if (start < 0) start = i;
      i = skipString(text, i) - 1;
      continue;
    }
    if (isSpace(text.charCodeAt(i))) continue;
    if (depth === 0 && (ch === "," || ch === "]")) {
      if (start >= 0) out.push(text.slice(start, i).trim());
      start = -1;
      if (ch === "]") return out;
      continue;
    }
    if (start < 0) start = i;
    if (ch === "[" || ch === "{") depth++;
    else if (ch === "]" || ch === "}") depth--;
  }
  return null;
}

/** Splits JSON text into tokens, keeping every token's text exactly as written. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const ch = text[i];
    if (isSpace(c)) {
      let j = i + 1;
      while (j < text.length && isSpace(text.charCodeAt(j))) j++;
      tokens.push({ kind: "space", text: text.slice(i, j) });
      i = j;
    } else if (ch === '"') {
      const end = skipString(text, i);
      tokens.push({ kind: "string", text: text.slice(i, end) });
      i = end;
    } else if ("{}[]:,".includes(ch)) {
      tokens.push({ kind: "punct", text: ch });
      i++;
    } else if (ch === "-" || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j])) j++;
      tokens.push({ kind: "number", text: text.slice(i, j) });
      i = j;
    } else {
      const word = /^(true|false|null)/.exec(text.slice(i, i + 5));
      if (word) {
        tokens.push({ kind: "literal", text: word[1] });
        i += word[1].length;
      } else {
        tokens.push({ kind: "invalid", text: ch });
        i++;
      }
    }
  }
  // A string followed by `:` is an object key; it gets its own colour.
  let pendingString = -1;
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t];
    if (token.kind === "space") continue;
    if (token.kind === "punct" && token.text === ":" && pendingString >= 0) {
      tokens[pendingString].kind = "key";
    }
    pendingString = token.kind === "string" ? t : -1;
  }
  return tokens;
}

/**
 * Pretty-prints JSON text with two-space indentation by changing whitespace only: every
 * string, number and literal keeps its exact spelling. Empty `{}` and `[]` stay on one line.
 */
export function pretty(text: string): Token[] {
  const tokens = tokenize(text).filter((t) => t.kind !== "space");
  const out: Token[] = [];
  let depth = 0;
  const newline = () => out.push({ kind: "space", text: "\n" + "  ".repeat(Math.max(depth, 0)) });
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = tokens[i + 1];
    if (token.kind === "punct" && (token.text === "{" || token.text === "[")) {
      const close = token.text === "{" ? "}" : "]";
      if (next && next.kind === "punct" && next.text === close) {
        out.push({ kind: "punct", text: token.text + close });
        i++;
        continue;
      }
      out.push(token);
      depth++;
      newline();
    } else if (token.kind === "punct" && (token.text === "}" || token.text === "]")) {
      depth--;
      newline();
      out.push(token);
    } else if (token.kind === "punct" && token.text === ",") {
      out.push(token);
      newline();
    } else if (token.kind === "punct" && token.text === ":") {
      out.push(token);
      out.push({ kind: "space", text: " " });
    } else {
      out.push(token);
    }
  }
  return out;
}

/** How many lines `pretty(text)` spans. */
export function lineCount(tokens: Token[]): number {
  let lines = 1;
  for (const token of tokens) {
    if (token.kind === "space") lines += token.text.split("\n").length - 1;
  }
  return lines;
}

/** Why `text` is not acceptable as a JSON object (or `null`, when `allowNull`), if it is not. */
export function objectProblem(text: string, allowNull: "object-only" | "object-or-null"): string | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return "not valid JSON: " + (e instanceof Error ? e.message : String(e));
  }
  if (value === null) return allowNull === "object-or-null" ? null : "must be a JSON object, not null";
  if (Array.isArray(value)) return "must be a JSON object, not an array";
  if (typeof value !== "object") return "must be a JSON object, not a " + typeof value;
  return null;
}
