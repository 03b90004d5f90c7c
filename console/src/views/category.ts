// A category's page (`category.get`): messages across its streams in global-position order,
// with the correlation and consumer-group filters of SPEC §7. The empty category name reads the
// whole namespace ("All messages").

import { categoryMessages, rpcRaw } from "../api";
import type { Encodable } from "../json";
import { errorBox, field, h, replace, uid } from "../dom";
import { Page, categoryHref } from "../session";
import { messageList } from "./messages";

const PAGE_SIZE = 20;

export function categoryPage(page: Page, category: string, query: URLSearchParams): void {
  const from = Math.max(1, Number(query.get("from")) || 1);
  const correlation = query.get("correlation") ?? "";
  const member = query.get("member") ?? "";
  const size = query.get("size") ?? "";

  const correlationInput = h("input", { id: uid("correlation"), name: "correlation", value: correlation, autocomplete: "off", spellcheck: "false" });
  const memberInput = h("input", { id: uid("member"), name: "member", value: member, type: "number", min: 0, inputmode: "numeric" });
  const sizeInput = h("input", { id: uid("size"), name: "size", value: size, type: "number", min: 1, inputmode: "numeric" });
  const fromInput = h("input", { id: uid("from"), name: "from", value: from === 1 ? "" : from, type: "number", min: 1, inputmode: "numeric", placeholder: "1" });
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Filter messages" },
    field("Correlation category", correlationInput, "Keep messages whose metadata.correlationStreamName is in this category."),
    field("Consumer member", memberInput),
    field("Group size", sizeInput, "Member m of n gets the streams whose cardinal id hashes to m."),
    field("From global position", fromInput),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = categoryHref(category, {
      from: fromInput.value,
      correlation: correlationInput.value,
      member: memberInput.value,
      size: sizeInput.value,
    });
  });

  const tailButton = h("button", { type: "button" }, category === "" ? "Tail all messages" : "Tail this category");
  tailButton.addEventListener("click", () =>
    page.tail.start(category === "" ? { kind: "all", name: "" } : { kind: "category", name: category }));
  const list = h("div", { "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  replace(
    page.main,
    category === "" ? page.heading("All messages") : page.heading("Category ", h("span", { class: "name" }, category)),
    h("div", { class: "actions" }, tailButton),
    form,
    list,
  );
  const alive = page.alive();

  const options: Record<string, Encodable> = { position: from, batchSize: PAGE_SIZE };
  if (correlation) options.correlation = correlation;
  if (member !== "" || size !== "") {
    const group: Record<string, number> = {};
    if (member !== "") group.member = Number(member);
    if (size !== "") group.size = Number(size);
    options.consumerGroup = group;
  }
  rpcRaw(page.session.token, "category.get", category, options).then(
    (raw) => {
      if (!alive()) return;
      list.setAttribute("aria-busy", "false");
      const messages = categoryMessages(raw);
      const here = { correlation, member, size };
      const last = messages.length ? messages[messages.length - 1].globalPosition : null;
      const pager = h(
        "nav",
        { class: "pager", "aria-label": "Message pages" },
        from > 1 ? h("a", { href: categoryHref(category, here) }, "First") : null,
        last !== null && messages.length === PAGE_SIZE
          ? h("a", { href: categoryHref(category, { ...here, from: last + 1 }), rel: "next" }, "Next")
          : null,
      );
      const summary = messages.length
        ? `Global positions ${messages[0].globalPosition}–${last}${messages.length < PAGE_SIZE ? " (the end)" : ""}.`
        : "";
      replace(
        list,
        summary ? h("p", { class: "summary" }, summary) : null,
        pager,
        messageList(messages, "with-stream", from > 1 ? "No more messages." : "No messages match."),
        messages.length > 5 ? pager.cloneNode(true) : null,
      );
    },
    (e) => alive() && replace(list, errorBox(e, "Could not read the category")),
  );
}
