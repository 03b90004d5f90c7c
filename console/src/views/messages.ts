// One message as a card: its positions, type, id and time, and its payloads pretty-printed.

import { Message } from "../api";
import { h, payload, timeEl } from "../dom";
import { streamHref } from "../session";

export type StreamColumn = "with-stream" | "without-stream";

export function messageCard(message: Message, stream: StreamColumn): HTMLElement {
  const title = h(
    "h3",
    { class: "message-title" },
    h("span", { class: "type" }, message.type),
    h("span", { class: "pos", title: "Position in the stream" }, "pos " + message.position),
    h("span", { class: "gpos", title: "Global position in the namespace" }, "gpos " + message.globalPosition),
  );
  const facts = h(
    "dl",
    { class: "facts" },
    stream === "with-stream"
      ? [h("dt", {}, "Stream"), h("dd", {}, h("a", { href: streamHref(message.stream) }, message.stream))]
      : null,
    h("dt", {}, "Id"),
    h("dd", {}, h("code", {}, message.id)),
    h("dt", {}, "Time"),
    h("dd", {}, timeEl(message.time)),
  );
  const metadata =
    message.metadata === "null"
      ? h("div", { class: "payload" }, h("div", { class: "payload-label" }, "Metadata"), h("p", { class: "muted" }, "none (null)"))
      : payload("Metadata", message.metadata);
  return h(
    "article",
    { class: "message", "data-gpos": message.globalPosition },
    title,
    facts,
    h("div", { class: "payloads" }, payload("Data", message.data), metadata),
  );
}

/** A list of message cards, or a note when there are none. */
export function messageList(messages: Message[], stream: StreamColumn, empty: string): HTMLElement {
  if (messages.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "ol",
    { class: "messages" },
    messages.map((m) => h("li", {}, messageCard(m, stream))),
  );
}
