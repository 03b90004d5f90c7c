// A few DOM helpers, so views read as a tree of elements.
//
// Every piece of server data goes into the page as a text node (`h` children, `textContent`),
// never through `innerHTML`, so stream names and payloads cannot inject markup. The server's
// Content-Security-Policy forbids inline scripts as a second line of defence.

import { RpcError } from "./api";
import { pretty, lineCount, Token } from "./json";

type Attrs = Record<string, string | number | boolean | undefined | EventListener>;
type Child = Node | string | number | null | undefined | false | Child[];

/**
 * Creates an element. `on…` attributes with a function value become event listeners; `true`
 * sets a boolean attribute, `false` and `undefined` leave it out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** A form field with its label; the input gets an id derived from `id`. */
export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  const id = input.id;
  const hintEl = hint ? h("small", { id: id + "-hint", class: "hint" }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintEl);
}

/** An error box (role=alert) for a failed call: the message, the code and the details. */
export function errorBox(error: unknown, context?: string): HTMLElement {
  const box = h("div", { class: "error", role: "alert" });
  if (error instanceof RpcError) {
    const title = (context ? context + ": " : "") + error.message;
    box.append(h("p", { class: "error-title" }, title));
    const facts = [error.code, error.status ? "HTTP " + error.status : null].filter(Boolean);
    box.append(h("p", { class: "error-code" }, facts.join(" · ")));
    if (error.details !== undefined) {
      box.append(h("pre", { class: "json" }, highlighted(JSON.stringify(error.details))));
    }
  } else {
    const text = error instanceof Error ? error.message : String(error);
    box.append(h("p", { class: "error-title" }, (context ? context + ": " : "") + text));
  }
  return box;
}

/** Renders tokens as highlighted spans inside a `code` element. */
export function highlighted(raw: string, tokens: Token[] = pretty(raw)): HTMLElement {
  const code = h("code");
  for (const token of tokens) {
    if (token.kind === "space" || token.kind === "punct") {
      code.append(token.text);
    } else {
      code.append(h("span", { class: "j-" + token.kind }, token.text));
    }
  }
  return code;
}

/** Payloads above either size are collapsed until opened. */
const COLLAPSE_CHARS = 1200;
const COLLAPSE_LINES = 24;

/**
 * A labelled, pretty-printed and highlighted JSON payload. Large payloads are collapsed into a
 * `<details>` element (keyboard-operable by default) and highlighted only when first opened.
 */
export function payload(label: string, raw: string): HTMLElement {
  const tokens = pretty(raw);
  const lines = lineCount(tokens);
  if (raw.length <= COLLAPSE_CHARS && lines <= COLLAPSE_LINES) {
    return h(
      "div",
      { class: "payload" },
      h("div", { class: "payload-label" }, label),
      h("pre", { class: "json", tabindex: 0, "aria-label": label }, highlighted(raw, tokens)),
    );
  }
  const pre = h("pre", { class: "json", tabindex: 0, "aria-label": label });
  const details = h(
    "details",
    { class: "payload" },
    h("summary", {}, `${label} — ${formatBytes(raw.length)}, ${lines} lines`),
    pre,
  );
  details.addEventListener("toggle", () => {
    if (details.open && !pre.firstChild) pre.append(highlighted(raw, tokens));
  });
  return details;
}

export function formatBytes(n: number): string {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
  return (n / 1024 / 1024).toFixed(1) + " MB";
}

/** A `<time>` element for a server timestamp, with the local rendering as its title. */
export function timeEl(iso: string | null): HTMLElement {
  if (iso === null) return h("span", { class: "muted" }, "never");
  const local = new Date(iso);
  const title = isNaN(local.getTime()) ? undefined : local.toString();
  return h("time", { datetime: iso, title }, iso);
}

/** A table wrapped so it scrolls sideways on narrow screens instead of overflowing the page. */
export function table(caption: string, headers: string[], rows: Child[][]): HTMLElement {
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h(
        "tbody",
        {},
        rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell)))),
      ),
    ),
  );
}

let unique = 0;

/** A fresh element id with a readable prefix. */
export function uid(prefix: string): string {
  unique += 1;
  return `${prefix}-${unique}`;
}
