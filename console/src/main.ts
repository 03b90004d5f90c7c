// The console's entry point: sign-in, the page shell and the hash router.
//
// Routing uses the URL fragment (`#/stream/account-1?from=20`) so the server needs exactly one
// HTML route, `/console`, and every page (including its paging position) can be bookmarked and
// reached with the back button. Each navigation renders one view into `<main>`; a view that
// finishes loading after the user has moved on is discarded (see `Page.current`).

import { forgetToken, namespaceOfToken, NamespaceInfo, rpc, storedToken, storeToken } from "./api";
import { deletionAllowed } from "./deletion";
import { errorBox, field, h, replace } from "./dom";
import { Session, Page } from "./session";
import { Tail } from "./views/tail";
import { overview } from "./views/overview";
import { streams } from "./views/streams";
import { streamPage } from "./views/stream";
import { categoryPage } from "./views/category";
import { writePage } from "./views/write";

const root = document.getElementById("app") as HTMLElement;

/**
 * Checks a token by reading its namespace's info (allowed for its own token and for admin), and
 * asks the server whether it allows deletion (a probe that removes nothing, see
 * `deletionAllowed`).
 */
async function verify(token: string): Promise<Session> {
  // A token that does not decode is still sent: the server says why it is wrong (or, in test
  // mode, treats the caller as admin on `default`).
  const claimed = namespaceOfToken(token) ?? "default";
  // The probe never rejects: a failed one only hides the deletion actions, and the token check
  // alone decides the sign-in.
  const [info, deletion] = await Promise.all([
    rpc<NamespaceInfo>(token, "ns.info", claimed),
    deletionAllowed((method, ...args) => rpc<unknown>(token, method, ...args)),
  ]);
  return { token, namespace: info.namespace, admin: info.namespace === "default", deletion };
}

function signIn(problem?: unknown): void {
  document.title = "Sign in · messagedb console";
  const input = h("input", {
    id: "token",
    name: "token",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    placeholder: "ns_…",
  });
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  if (problem) status.append(errorBox(problem, "Sign-in failed"));
  const button = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "messagedb console"),
    h(
      "p",
      {},
      "Sign in with a namespace token. The admin token (the ",
      h("code", {}, "default"),
      " namespace's) can also manage namespaces. The token is kept in this tab's session storage only.",
    ),
    field("Token", input, "Sent as a Bearer header; it never appears in page URLs."),
    h("div", { class: "actions" }, button),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    button.disabled = true;
    replace(status, h("p", { class: "muted" }, "Checking the token…"));
    try {
      const session = await verify(token);
      storeToken(token);
      start(session);
    } catch (e) {
      replace(status, errorBox(e, "Sign-in failed"));
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
    }
  });
  replace(root, h("main", { id: "main", class: "signin-main" }, form));
  input.focus();
}

function start(session: Session): void {
  const main = h("main", { id: "main", tabindex: -1 });
  const tail = new Tail(session);
  const navLinks: [string, string][] = [
    ["#/", "Overview"],
    ["#/streams", "Streams"],
    ["#/category/", "All messages"],
    ["#/write", "Write"],
  ];
  const nav = h(
    "nav",
    { "aria-label": "Main" },
    h("ul", {}, navLinks.map(([href, label]) => h("li", {}, h("a", { href }, label)))),
  );
  const signOut = h("button", { type: "button", class: "link-button" }, "Sign out");
  signOut.addEventListener("click", () => {
    tail.stop();
    forgetToken();
    window.removeEventListener("hashchange", route);
    location.hash = "";
    signIn();
  });
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "skip", href: "#main", onclick: skipToMain }, "Skip to content"),
    h("a", { class: "brand", href: "#/" }, "messagedb"),
    nav,
    h(
      "div",
      { class: "who" },
      h("span", { class: "namespace", title: "The namespace this token belongs to" },
        "Namespace ", h("strong", { id: "current-namespace" }, session.namespace)),
      session.admin ? h("span", { class: "badge admin" }, "admin") : h("span", { class: "badge" }, "tenant"),
      signOut,
    ),
  );
  replace(root, header, h("div", { class: "layout" }, main, tail.element));

  const page = new Page(session, main, tail);
  let lastPath: string | null = null;
  function route(): void {
    const { path, query } = parseHash();
    for (const link of nav.querySelectorAll("a")) {
      const target = link.getAttribute("href")!.slice(1);
      const current = target === "/" ? path === "/" : path === target || path.startsWith(target + "/");
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    const segments = path.split("/").slice(1);
    const name = segments.slice(1).join("/");
    page.begin();
    if (path === "/" || path === "") overview(page);
    else if (segments[0] === "streams") streams(page, query);
    else if (segments[0] === "stream" && segments.length > 1) streamPage(page, decode(name), query);
    else if (segments[0] === "category") categoryPage(page, decode(name), query);
    else if (segments[0] === "write") writePage(page, query);
    else page.notFound();
    // Moving focus to the new page's heading tells screen-reader users that the page changed;
    // paging within a page keeps focus where it is.
    if (lastPath !== null && lastPath !== path) page.focusHeading();
    lastPath = path;
  }
  window.addEventListener("hashchange", route);
  route();
}

function skipToMain(event: Event): void {
  event.preventDefault();
  document.getElementById("main")?.focus();
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** `#/path?query` → its path and query parameters. */
function parseHash(): { path: string; query: URLSearchParams } {
  const hash = location.hash.replace(/^#/, "") || "/";
  const cut = hash.indexOf("?");
  const path = cut < 0 ? hash : hash.slice(0, cut);
  return { path: path || "/", query: new URLSearchParams(cut < 0 ? "" : hash.slice(cut + 1)) };
}

async function boot(): Promise<void> {
  const token = storedToken();
  if (!token) return signIn();
  replace(root, h("main", { id: "main", class: "signin-main" }, h("p", { class: "muted" }, "Signing in…")));
  try {
    start(await verify(token));
  } catch (e) {
    forgetToken();
    signIn(e);
  }
}

void boot();
