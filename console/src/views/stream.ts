// A stream's page: its messages (`stream.get`, paged by position), the write form for it, and a
// button that points the live tail at it.

import { categoryOf, rpc, rpcRaw, streamMessages } from "../api";
import { errorBox, h, replace } from "../dom";
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
  replace(
    page.main,
    h("nav", { class: "crumbs", "aria-label": "Breadcrumbs" },
      h("a", { href: "#/streams" }, "Streams"), " / ",
      h("a", { href: categoryHref(category) }, "category " + category)),
    page.heading("Stream ", h("span", { class: "name" }, stream)),
    h("div", { class: "actions" }, tailButton, h("a", { href: "#write", class: "button", onclick: jumpToForm }, "Write to this stream")),
    h("section", { "aria-labelledby": "messages-title" }, h("h2", { id: "messages-title" }, "Messages"), list),
    h("section", { "aria-labelledby": "write-title", id: "write-section" },
      h("h2", { id: "write-title" }, "Write a message"),
      writeForm(page, { stream, onWritten: () => load() })),
  );
  const alive = page.alive();

  async function load(): Promise<void> {
    try {
      const version = await rpc<number | null>(page.session.token, "stream.version", stream);
      const last = version ?? -1;
      // Without `from`, show the newest page: that is what someone opening a stream wants to see.
      const from = requested === null ? Math.max(0, last - PAGE_SIZE + 1) : Math.max(0, Number(requested) || 0);
      const raw = await rpcRaw(page.session.token, "stream.get", stream, { position: from, batchSize: PAGE_SIZE });
      const messages = streamMessages(raw, stream);
      if (!alive()) return;
      list.setAttribute("aria-busy", "false");
      const to = messages.length ? messages[messages.length - 1].position : from;
      const summary =
        last < 0
          ? "This stream has no messages."
          : messages.length
            ? `Positions ${from}–${to} of ${last + 1} message${last === 0 ? "" : "s"} (version ${last}).`
            : `No messages from position ${from}; the stream is at version ${last}.`;
      const pager = h(
        "nav",
        { class: "pager", "aria-label": "Message pages" },
        from > 0 ? h("a", { href: streamHref(stream, { from: 0 }) }, "First") : null,
        from > 0 ? h("a", { href: streamHref(stream, { from: Math.max(0, from - PAGE_SIZE) }), rel: "prev" }, "Previous") : null,
        to < last ? h("a", { href: streamHref(stream, { from: to + 1 }), rel: "next" }, "Next") : null,
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
