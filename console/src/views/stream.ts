// A stream's page: its messages (`stream.get`, paged by position), the write form for it, a
// button that points the live tail at it, and, when the server allows deletion (SPEC §18),
// "Delete stream…" and "Truncate before…", each behind a dialog that stays disabled until the
// stream's name is typed.

import { categoryOf, rpc, rpcRaw, streamMessages } from "../api";
import { beforeProblem, confirmed, deletedText, deletionCall, DeletionKind, DeleteResult, streamSummary } from "../deletion";
import { errorBox, field, h, highlighted, replace, uid } from "../dom";
import { Page, categoryHref, streamHref } from "../session";
import { messageList } from "./messages";
import { writeForm } from "./write";

const PAGE_SIZE = 20;

export function streamPage(page: Page, stream: string, query: URLSearchParams): void {
  const requested = query.get("from");
  const category = categoryOf(stream);
  const list = h("div", { "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  const tailButton = h("button", { type: "button" }, "Tail this stream");
  tailButton.addEventListener("click", () => page.tail.start({ kind: "stream", name: stream }));
  // The version the page last showed: a deletion expects it, so it never removes unseen messages.
  let shownVersion: number | null = null;
  const deletionStatus = h("div", { class: "form-status", "aria-live": "polite" });
  const deletionActions = page.session.deletion
    ? (["delete", "truncate"] as DeletionKind[]).map((kind) =>
        h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () => confirmDeletion(page, stream, kind, shownVersion, (raw) => {
              replace(deletionStatus, deletedBox(stream, raw));
              void load();
            }),
          },
          kind === "delete" ? "Delete stream…" : "Truncate before…",
        ))
    : null;
  replace(
    page.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/streams" }, "Streams"), " / ",
      h("a", { href: categoryHref(category) }, "category " + category)),
    page.heading("Stream ", h("span", { class: "name" }, stream)),
    h("div", { class: "actions" }, tailButton, h("a", { href: "#write", class: "button", onclick: jumpToForm }, "Write to this stream"), deletionActions),
    deletionStatus,
    h("section", { "aria-labelledby": "messages-title" }, h("h2", { id: "messages-title" }, "Messages"), list),
    h("section", { "aria-labelledby": "write-title", id: "write-section" },
      h("h2", { id: "write-title" }, "Write a message"),
      writeForm(page, { stream, onWritten: () => load() })),
  );
  const alive = page.alive();

  async function load(): Promise<void> {
    try {
      const { token } = page.session;
      const version = await rpc<number | null>(token, "stream.version", stream);
      const last = version ?? -1;
      // Without `from`, show the newest page: that is what someone opening a stream wants to see.
      const from = requested === null ? Math.max(0, last - PAGE_SIZE + 1) : Math.max(0, Number(requested) || 0);
      // The lowest remaining position (deletion removes a prefix, SPEC §18): the page's first
      // message when the page starts at 0, otherwise the first message `stream.get` finds from 0.
      const [raw, lowestRaw] = await Promise.all([
        rpcRaw(token, "stream.get", stream, { position: from, batchSize: PAGE_SIZE }),
        from === 0 || version === null ? null : rpcRaw(token, "stream.get", stream, { position: 0, batchSize: 1 }),
      ]);
      const messages = streamMessages(raw, stream);
      const lowest = (lowestRaw === null ? messages : streamMessages(lowestRaw, stream))[0]?.position ?? null;
      if (!alive()) return;
      shownVersion = version;
      list.setAttribute("aria-busy", "false");
      const first = messages.length ? messages[0].position : from;
      const to = messages.length ? messages[messages.length - 1].position : from;
      const floor = lowest ?? 0;
      const summary = streamSummary({ version, lowest, shown: messages.map((m) => m.position), from });
      const pager = h(
        "nav",
        { class: "pager", "aria-label": "Message pages" },
        first > floor ? h("a", { href: streamHref(stream, { from: 0 }) }, "First") : null,
        first > floor ? h("a", { href: streamHref(stream, { from: Math.max(floor, first - PAGE_SIZE) }), rel: "prev" }, "Previous") : null,
        messages.length > 0 && to < last ? h("a", { href: streamHref(stream, { from: to + 1 }), rel: "next" }, "Next") : null,
        to < last || requested !== null ? h("a", { href: streamHref(stream) }, "Latest") : null,
      );
      replace(list, h("p", { class: "summary" }, summary), pager, messageList(messages, "without-stream", "Nothing on this page."), messages.length > 5 ? pager.cloneNode(true) : null);
    } catch (e) {
      if (alive()) replace(list, errorBox(e, "Could not read the stream"));
    }
  }
  void load();
}

function jumpToForm(event: Event): void {
  event.preventDefault();
  const section = document.getElementById("write-section");
  section?.scrollIntoView();
  section?.querySelector<HTMLElement>("input, textarea")?.focus();
}

/** A deletion's answer: the sentence and the answer itself, as the write form shows a write's. */
function deletedBox(stream: string, raw: string): HTMLElement {
  const result = JSON.parse(raw) as DeleteResult;
  return h(
    "div",
    { class: "success", role: "status" },
    h("p", {}, deletedText(stream, result)),
    h("pre", { class: "json" }, highlighted(raw.trim())),
  );
}

/**
 * A modal dialog for `stream.delete` or `stream.truncate` of `stream`. Its destructive button
 * stays disabled until the stream's name is typed exactly (and, to truncate, a valid `before`);
 * on success it closes and hands the server's answer to `done`, and a refusal (a version
 * conflict, deletion disabled) is shown inside it.
 */
function confirmDeletion(page: Page, stream: string, kind: DeletionKind, version: number | null, done: (raw: string) => void): void {
  const opener = document.activeElement as HTMLElement | null;
  const truncate = kind === "truncate";
  const titleId = uid("deletion-title");
  const name = h("input", { id: uid("confirm-stream"), autocomplete: "off", spellcheck: "false" });
  const before = truncate
    ? h("input", { id: uid("truncate-before"), inputmode: "numeric", autocomplete: "off", spellcheck: "false" })
    : null;
  const beforeError = before ? h("small", { id: before.id + "-problem", class: "field-problem", "aria-live": "polite" }) : null;
  const go = h("button", { type: "submit", class: "danger", disabled: true }, truncate ? "Truncate for ever" : "Delete for ever");
  const cancel = h("button", { type: "button" }, "Cancel");
  const problem = h("div", { "aria-live": "polite" });
  const known = version !== null && version >= 0;
  const explanation = truncate
    ? [
        h("p", {}, "The messages at positions below the one you give are removed permanently, also from the database files; the messages from that position on stay. The stream keeps its version."),
        known ? h("p", {}, `The newest message is at position ${version}.`) : null,
      ]
    : [
        h("p", {}, "Every message of this stream is removed permanently, also from the database files. The stream keeps its version, so the next write goes to the position after it."),
        known ? h("p", {}, `Only if the stream is still at version ${version}: if anything was written to it since this page loaded, nothing is deleted.`) : null,
      ];
  const dialog = h(
    "dialog",
    { "aria-labelledby": titleId, class: "card" },
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: titleId }, (truncate ? "Truncate stream " : "Delete stream ") + stream + "?"),
      explanation,
      h("p", {}, "Projections are told through the deletion record, which keeps the stream's name."),
      before && beforeError
        ? h("div", { class: "field" },
            h("label", { for: before.id }, "Delete the messages before position"), before,
            h("small", { id: before.id + "-hint", class: "hint" }, "The first position to keep: a whole number ≥ 0."),
            beforeError)
        : null,
      field("Type the stream name to confirm", name),
      problem,
      h("div", { class: "actions" }, cancel, go),
    ),
  );
  before?.setAttribute("aria-describedby", before.id + "-hint " + before.id + "-problem");
  const ready = () => confirmed(name.value, stream) && (before === null || beforeProblem(before.value) === null);
  const update = () => {
    if (before && beforeError) {
      // Say what is wrong only once something has been typed.
      const wrong = before.value === "" ? null : beforeProblem(before.value);
      before.setAttribute("aria-invalid", String(wrong !== null));
      beforeError.textContent = wrong ?? "";
    }
    go.disabled = !ready();
  };
  name.addEventListener("input", update);
  before?.addEventListener("input", update);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (opener?.isConnected) opener.focus();
  });
  dialog.querySelector("form")!.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ready()) return;
    const call = deletionCall(kind, stream, { expectedVersion: version, before: before?.value });
    go.disabled = true;
    replace(problem, h("p", { class: "muted" }, truncate ? "Truncating…" : "Deleting…"));
    try {
      const raw = await rpcRaw(page.session.token, call.method, ...call.args);
      dialog.close();
      done(raw);
    } catch (e) {
      replace(problem, errorBox(e, truncate ? "Could not truncate the stream" : "Could not delete the stream"));
      go.disabled = !ready();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  (before ?? name).focus();
}
