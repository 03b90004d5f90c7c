// The write form: `stream.write` with a type, JSON data, optional metadata and an optional
// expectedVersion, showing the server's answer (errors included). "Add message" adds another
// message block; with two or more the form sends them as one `stream.writeBatch` (SPEC §17: all
// or nothing, in order) and shows where each message went.
//
// The data and metadata are validated in the browser for quick feedback, but sent as the text the
// user typed (`Raw`, see `writeCall`), not re-serialised, so what is stored is exactly what was
// written (SPEC §2.6: `1.50` stays `1.50`, big integers keep every digit).

import { BatchResult, MessageDraft, rpcRaw, writeCall } from "../api";
import { errorBox, field, h, highlighted, replace, uid } from "../dom";
import { objectProblem } from "../json";
import { Page, streamHref } from "../session";

export interface WriteOptions {
  /** The stream to write to; when absent the form asks for it (for every message). */
  stream?: string;
  /** Called after a successful write. */
  onWritten?: () => void;
}

/** One message's fields in the form. */
interface MessageBlock {
  root: HTMLFieldSetElement;
  legend: HTMLLegendElement;
  remove: HTMLButtonElement | null;
  streamInput: HTMLInputElement | null;
  type: HTMLInputElement;
  data: HTMLTextAreaElement;
  metadata: HTMLTextAreaElement;
  checkData: () => boolean;
  checkMetadata: () => boolean;
}

function messageBlock(askStream: boolean, onRemove: ((block: MessageBlock) => void) | null): MessageBlock {
  const streamInput = askStream
    ? h("input", { id: uid("w-stream"), name: "stream", required: true, autocomplete: "off", spellcheck: "false", placeholder: "account-123" })
    : null;
  const type = h("input", { id: uid("w-type"), name: "type", required: true, autocomplete: "off", spellcheck: "false", placeholder: "Deposited" });
  const data = h("textarea", { id: uid("w-data"), name: "data", rows: 6, spellcheck: "false", required: true, class: "code-input" });
  data.value = "{}";
  const metadata = h("textarea", { id: uid("w-metadata"), name: "metadata", rows: 3, spellcheck: "false", class: "code-input", placeholder: '{"correlationStreamName": "workflow-1"}' });
  const dataError = problemSlot(data);
  const metadataError = problemSlot(metadata);
  const checkData = () => show(data, dataError, objectProblem(data.value, "object-only"));
  const checkMetadata = () =>
    show(metadata, metadataError, metadata.value.trim() === "" ? null : objectProblem(metadata.value, "object-or-null"));
  data.addEventListener("input", checkData);
  metadata.addEventListener("input", checkMetadata);
  const legend = h("legend", {});
  const remove = onRemove ? h("button", { type: "button", class: "small" }, "Remove") : null;
  const root = h(
    "fieldset",
    { class: "message-block" },
    legend,
    streamInput ? field("Stream", streamInput) : null,
    field("Type", type),
    h("div", { class: "field" }, h("label", { for: data.id }, "Data (a JSON object)"), data, dataError),
    h("div", { class: "field" }, h("label", { for: metadata.id }, "Metadata (optional JSON object)"), metadata, metadataError),
    remove ? h("div", { class: "actions" }, remove) : null,
  );
  const block: MessageBlock = { root, legend, remove, streamInput, type, data, metadata, checkData, checkMetadata };
  remove?.addEventListener("click", () => onRemove?.(block));
  return block;
}

export function writeForm(page: Page, options: WriteOptions): HTMLElement {
  const askStream = options.stream === undefined;
  const blocks: MessageBlock[] = [];
  const blockList = h("div", { class: "message-blocks" });
  const expected = h("input", { id: uid("w-expected"), name: "expectedVersion", inputmode: "numeric", autocomplete: "off", placeholder: "any" });
  const result = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Write message");
  const add = h("button", { type: "button" }, "Add message");

  const expectedError = problemSlot(expected);
  const checkExpected = () =>
    show(expected, expectedError, expected.value.trim() === "" || /^-?\d+$/.test(expected.value.trim())
      ? null
      : "must be a whole number: -1 for a new stream, otherwise the current version");
  expected.addEventListener("input", checkExpected);

  // Legends, remove buttons and the submit label follow the number of messages; a lone message
  // looks exactly like the single-message form.
  const renumber = () => {
    const several = blocks.length > 1;
    form.classList.toggle("several", several);
    blocks.forEach((block, i) => {
      block.legend.textContent = "Message " + (i + 1);
      block.legend.hidden = !several;
      block.remove?.setAttribute("aria-label", "Remove message " + (i + 1));
    });
    button.textContent = several ? `Write ${blocks.length} messages` : "Write message";
  };
  const removeBlock = (block: MessageBlock) => {
    blocks.splice(blocks.indexOf(block), 1);
    block.root.remove();
    renumber();
    blocks[blocks.length - 1].type.focus();
  };
  const addBlock = (removable: boolean) => {
    const block = messageBlock(askStream, removable ? removeBlock : null);
    blocks.push(block);
    blockList.append(block.root);
    renumber();
    return block;
  };
  add.addEventListener("click", () => {
    const block = addBlock(true);
    (block.streamInput ?? block.type).focus();
  });

  const form = h(
    "form",
    { class: "card write-form", "aria-label": askStream ? "Write a message" : "Write a message to " + options.stream, novalidate: true },
    blockList,
    h("div", { class: "field" },
      h("label", { for: expected.id }, "Expected version (optional)"), expected,
      h("small", { class: "hint", id: expected.id + "-hint" }, "The write fails with a conflict unless the stream is at this version; -1 means the stream must be empty. With several messages it applies to the first message's stream."),
      expectedError),
    h("div", { class: "actions" }, button, add),
    result,
  );
  addBlock(false);
  expected.setAttribute("aria-describedby", expected.id + "-hint " + expectedError.id);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const problems: [HTMLElement, boolean][] = [];
    for (const block of blocks) {
      const stream = options.stream ?? block.streamInput!.value;
      problems.push(
        [block.streamInput ?? block.type, block.streamInput ? stream !== "" : true],
        [block.type, block.type.value !== ""],
        [block.data, !block.checkData()],
        [block.metadata, !block.checkMetadata()],
      );
      for (const el of [block.streamInput, block.type]) {
        if (el) el.setAttribute("aria-invalid", String(el.value === ""));
      }
    }
    problems.push([expected, !checkExpected()]);
    const firstBad = problems.find(([, ok]) => !ok);
    if (firstBad) {
      replace(result, h("p", { class: "error", role: "alert" }, "Please fix the highlighted fields."));
      firstBad[0].focus();
      return;
    }
    const drafts: MessageDraft[] = blocks.map((block) => ({
      stream: options.stream ?? block.streamInput!.value,
      type: block.type.value,
      data: block.data.value,
      metadata: block.metadata.value,
    }));
    const call = writeCall(drafts, expected.value);
    button.disabled = true;
    replace(result, h("p", { class: "muted" }, "Writing…"));
    try {
      const raw = await rpcRaw(page.session.token, call.method, ...call.args);
      replace(result, drafts.length === 1 ? writtenOne(drafts[0].stream, raw) : writtenBatch(raw));
      options.onWritten?.();
    } catch (e) {
      replace(result, errorBox(e, "The server refused the write"));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** A `stream.write` answer: where the message went, and the answer itself. */
function writtenOne(stream: string, raw: string): HTMLElement {
  const written = JSON.parse(raw) as { globalPosition: number; position: number };
  return h(
    "div",
    { class: "success", role: "status" },
    h("p", {}, "Written to ", h("a", { href: streamHref(stream) }, stream), ` at position ${written.position} (global position ${written.globalPosition}).`),
    h("pre", { class: "json" }, highlighted(raw.trim())),
  );
}

/** A `stream.writeBatch` answer: one row per message, in the order they were written. */
function writtenBatch(raw: string): HTMLElement {
  const { results } = JSON.parse(raw) as { results: BatchResult[] };
  return h(
    "div",
    { class: "success" },
    h("p", { role: "status" }, `Wrote ${results.length} messages in one atomic batch.`),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        {},
        h("caption", {}, "Written messages"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Stream"), h("th", { scope: "col" }, "Position"), h("th", { scope: "col" }, "Global position"))),
        h(
          "tbody",
          {},
          results.map((r) =>
            h("tr", {}, h("td", {}, h("a", { href: streamHref(r.stream) }, r.stream)), h("td", {}, String(r.position)), h("td", {}, String(r.globalPosition))),
          ),
        ),
      ),
    ),
  );
}

/** A place for a field's validation message, linked to the field for screen readers. */
function problemSlot(input: HTMLElement): HTMLElement {
  const slot = h("small", { id: input.id + "-problem", class: "field-problem", "aria-live": "polite" });
  input.setAttribute("aria-describedby", slot.id);
  return slot;
}

/** Shows or clears a field's problem; returns whether there is one. */
function show(input: HTMLElement, slot: HTMLElement, problem: string | null): boolean {
  input.setAttribute("aria-invalid", String(problem !== null));
  slot.textContent = problem ?? "";
  return problem !== null;
}

/** `#/write`: the form on its own page, for any stream. */
export function writePage(page: Page, query: URLSearchParams): void {
  const form = writeForm(page, {});
  const stream = query.get("stream");
  if (stream) (form.querySelector("input[name=stream]") as HTMLInputElement).value = stream;
  replace(page.main, page.heading("Write a message"), form);
}
