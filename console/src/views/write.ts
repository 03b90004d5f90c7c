// The write form: `stream.write` with a type, JSON data, optional metadata and an optional
// expectedVersion, showing the server's answer (errors included).
//
// The data and metadata are validated in the browser for quick feedback, but sent as the text the
// user typed (`Raw`), not re-serialised, so what is stored is exactly what was written
// (SPEC §2.6: `1.50` stays `1.50`, big integers keep every digit).

import { Raw, rpcRaw } from "../api";
import { errorBox, field, h, highlighted, replace, uid } from "../dom";
import { objectProblem } from "../json";
import { Page, streamHref } from "../session";

export interface WriteOptions {
  /** The stream to write to; when absent the form asks for it. */
  stream?: string;
  /** Called after a successful write. */
  onWritten?: () => void;
}

export function writeForm(page: Page, options: WriteOptions): HTMLElement {
  const streamInput = options.stream === undefined
    ? h("input", { id: uid("w-stream"), name: "stream", required: true, autocomplete: "off", spellcheck: "false", placeholder: "account-123" })
    : null;
  const type = h("input", { id: uid("w-type"), name: "type", required: true, autocomplete: "off", spellcheck: "false", placeholder: "Deposited" });
  const data = h("textarea", { id: uid("w-data"), name: "data", rows: 6, spellcheck: "false", required: true, class: "code-input" });
  data.value = "{}";
  const metadata = h("textarea", { id: uid("w-metadata"), name: "metadata", rows: 3, spellcheck: "false", class: "code-input", placeholder: '{"correlationStreamName": "workflow-1"}' });
  const expected = h("input", { id: uid("w-expected"), name: "expectedVersion", inputmode: "numeric", autocomplete: "off", placeholder: "any" });
  const result = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, "Write message");

  const dataError = problemSlot(data);
  const metadataError = problemSlot(metadata);
  const expectedError = problemSlot(expected);
  const checkData = () => show(data, dataError, objectProblem(data.value, "object-only"));
  const checkMetadata = () =>
    show(metadata, metadataError, metadata.value.trim() === "" ? null : objectProblem(metadata.value, "object-or-null"));
  const checkExpected = () =>
    show(expected, expectedError, expected.value.trim() === "" || /^-?\d+$/.test(expected.value.trim())
      ? null
      : "must be a whole number: -1 for a new stream, otherwise the current version");
  data.addEventListener("input", checkData);
  metadata.addEventListener("input", checkMetadata);
  expected.addEventListener("input", checkExpected);

  const form = h(
    "form",
    { class: "card write-form", "aria-label": options.stream === undefined ? "Write a message" : "Write a message to " + options.stream, novalidate: true },
    streamInput ? field("Stream", streamInput) : null,
    field("Type", type),
    h("div", { class: "field" }, h("label", { for: data.id }, "Data (a JSON object)"), data, dataError),
    h("div", { class: "field" }, h("label", { for: metadata.id }, "Metadata (optional JSON object)"), metadata, metadataError),
    h("div", { class: "field" },
      h("label", { for: expected.id }, "Expected version (optional)"), expected,
      h("small", { class: "hint", id: expected.id + "-hint" }, "The write fails with a conflict unless the stream is at this version; -1 means the stream must be empty."),
      expectedError),
    h("div", { class: "actions" }, button),
    result,
  );
  expected.setAttribute("aria-describedby", expected.id + "-hint " + expectedError.id);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const stream = options.stream ?? streamInput!.value;
    const problems: [HTMLElement, boolean][] = [
      [streamInput ?? type, streamInput ? stream !== "" : true],
      [type, type.value !== ""],
      [data, !checkData()],
      [metadata, !checkMetadata()],
      [expected, !checkExpected()],
    ];
    for (const el of [streamInput, type]) {
      if (el) el.setAttribute("aria-invalid", String(el.value === ""));
    }
    const firstBad = problems.find(([, ok]) => !ok);
    if (firstBad) {
      replace(result, h("p", { class: "error", role: "alert" }, "Please fix the highlighted fields."));
      firstBad[0].focus();
      return;
    }
    const meta = metadata.value.trim();
    const version = expected.value.trim();
    button.disabled = true;
    replace(result, h("p", { class: "muted" }, "Writing…"));
    try {
      const raw = await rpcRaw(
        page.session.token,
        "stream.write",
        stream,
        { type: type.value, data: new Raw(data.value), metadata: meta === "" ? undefined : new Raw(meta) },
        version === "" ? undefined : { expectedVersion: new Raw(BigInt(version).toString()) },
      );
      const written = JSON.parse(raw) as { globalPosition: number; position: number };
      replace(
        result,
        h(
          "div",
          { class: "success", role: "status" },
          h("p", {}, "Written to ", h("a", { href: streamHref(stream) }, stream), ` at position ${written.position} (global position ${written.globalPosition}).`),
          h("pre", { class: "json" }, highlighted(raw.trim())),
        ),
      );
      options.onWritten?.();
    } catch (e) {
      replace(result, errorBox(e, "The server refused the write"));
    } finally {
      button.disabled = false;
    }
  });
  return form;
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
