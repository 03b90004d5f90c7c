// The live tail: a panel beside every page that subscribes over SSE (`/subscribe`, SPEC §8) to a
// stream, a category or the whole namespace and shows messages as they are committed.
//
// Pokes only say where a message is (stream, position, global position); the panel then reads the
// messages with `stream.get`, grouping a burst of pokes into one read per stream. Pokes arrive in
// ascending global position, so the highest one seen is a cursor: it drops duplicates and, after a
// lost connection, lets the panel resubscribe from where it was instead of replaying from the
// start (EventSource's own reconnect would reuse the first URL). Pausing keeps the subscription
// open and only holds the pokes back, so nothing committed while paused is missed.
//
// A deletion (SPEC §18) arrives as `event: deleted` in order with the pokes: the panel takes the
// stream's deleted messages off its list and out of what it still has to read, and says so in a
// short notice. A `DeletionLog` remembers each stream's deleted prefix, so a read that was in
// flight when the deletion arrived cannot put a deleted message back.
//
// "From now" is exact for a stream (it starts at the stream's version + 1). For a category the
// server has no "live only" mode, so the panel subscribes to `all=true` (live only) and keeps the
// category's messages itself.

import { categoryOf, Message, Poke, rpc, rpcRaw, RpcError, streamMessages, subscribeUrl } from "../api";
import { DeletedEvent, deletedNotice, DeletionLog, parseDeleted } from "../deletion";
import type { Session } from "../session";
import { errorBox, field, h, replace, uid } from "../dom";
import { messageCard } from "./messages";

export type TailKind = "stream" | "category" | "all";

export interface TailTarget {
  kind: TailKind;
  /** The stream or category name; ignored for `all`. */
  name: string;
  /** Start position (stream position, or global position); absent means "from now". */
  from?: number;
}

/** The panel keeps this many messages; older ones scroll away. */
const MAX_SHOWN = 200;

type State = "stopped" | "connecting" | "live" | "paused" | "retrying" | "failed";

export class Tail {
  readonly element: HTMLElement;
  private readonly kindSelect: HTMLSelectElement;
  private readonly nameInput: HTMLInputElement;
  private readonly nameLabel: HTMLLabelElement;
  private readonly fromInput: HTMLInputElement;
  private readonly fromLabel: HTMLLabelElement;
  private readonly status: HTMLElement;
  private readonly problem: HTMLElement;
  private readonly list: HTMLOListElement;
  private readonly pauseButton: HTMLButtonElement;
  private readonly stopButton: HTMLButtonElement;

  private target: TailTarget | null = null;
  private source: EventSource | null = null;
  /** Bumped on every (re)start, so callbacks of an old subscription are ignored. */
  private run = 0;
  private state: State = "stopped";
  private opened = false;
  private retries = 0;
  private retryTimer: number | undefined;
  /** Highest global position poked so far. */
  private cursor: number | null = null;
  /** Highest stream position poked so far (stream tails). */
  private streamCursor: number | null = null;
  /** The category kept client-side when subscribed to `all=true` on a category's behalf. */
  private keepCategory: string | null = null;
  /** The deletions this subscription was told of. */
  private deletions = new DeletionLog();
  private held: Poke[] = [];
  private heldDropped = 0;
  private queue: Poke[] = [];
  private reading = false;
  private shown = 0;

  constructor(private readonly session: Session) {
    this.kindSelect = h("select", { id: uid("tail-kind"), name: "kind" },
      h("option", { value: "stream" }, "Stream"),
      h("option", { value: "category" }, "Category"),
      h("option", { value: "all" }, "All messages"));
    this.nameInput = h("input", { id: uid("tail-name"), name: "name", autocomplete: "off", spellcheck: "false" });
    this.fromInput = h("input", { id: uid("tail-from"), name: "from", type: "number", min: 0, inputmode: "numeric", placeholder: "now" });
    const nameField = field("Stream name", this.nameInput);
    const fromField = field("Start at stream position", this.fromInput, "Empty: only messages written from now on.");
    this.nameLabel = nameField.querySelector("label")!;
    this.fromLabel = fromField.querySelector("label")!;
    this.kindSelect.addEventListener("change", () => this.syncLabels());

    this.status = h("p", { class: "tail-status", role: "status", "aria-live": "polite" }, "Not running.");
    this.problem = h("div", {});
    this.pauseButton = h("button", { type: "button", "aria-pressed": "false", disabled: true }, "Pause");
    this.pauseButton.addEventListener("click", () => (this.state === "paused" ? this.resume() : this.pause()));
    this.stopButton = h("button", { type: "button", disabled: true }, "Stop");
    this.stopButton.addEventListener("click", () => this.stop());
    const clear = h("button", { type: "button" }, "Clear");
    clear.addEventListener("click", () => {
      this.list.replaceChildren();
      this.shown = 0;
    });
    this.list = h("ol", { class: "messages tail-list", "aria-label": "Messages received, newest first" });

    const form = h(
      "form",
      { class: "tail-form", "aria-label": "Tail settings" },
      field("Subscribe to", this.kindSelect),
      nameField,
      fromField,
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Start")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const kind = this.kindSelect.value as TailKind;
      const from = this.fromInput.value.trim();
      if (kind !== "all" && this.nameInput.value === "") {
        this.nameInput.setAttribute("aria-invalid", "true");
        replace(this.problem, h("p", { class: "error", role: "alert" }, `Enter a ${kind} name.`));
        this.nameInput.focus();
        return;
      }
      this.nameInput.removeAttribute("aria-invalid");
      void this.start({ kind, name: this.nameInput.value, from: from === "" ? undefined : Math.max(0, Number(from)) }, "keep-focus");
    });

    this.element = h(
      "aside",
      { class: "tail", "aria-labelledby": "tail-title" },
      h("h2", { id: "tail-title", tabindex: -1 }, "Live tail"),
      form,
      this.status,
      this.problem,
      h("div", { class: "actions" }, this.pauseButton, this.stopButton, clear),
      this.list,
    );
  }

  /**
   * Points the panel at `target` and subscribes, replacing any running subscription. Called from
   * a page's "Tail this …" button, it also moves focus to the panel, which on a narrow screen is
   * below the page.
   */
  async start(target: TailTarget, focus: "focus-panel" | "keep-focus" = "focus-panel"): Promise<void> {
    this.stop();
    if (focus === "focus-panel") this.element.querySelector<HTMLElement>("h2")?.focus();
    const run = ++this.run;
    this.target = target;
    this.kindSelect.value = target.kind;
    this.nameInput.value = target.kind === "all" ? "" : target.name;
    this.fromInput.value = target.from === undefined ? "" : String(target.from);
    this.syncLabels();
    this.list.replaceChildren();
    this.shown = 0;
    this.setState("connecting");
    this.stopButton.disabled = false;
    let params: Record<string, string>;
    try {
      params = await this.firstParams(target);
    } catch (e) {
      if (run === this.run) this.fail(e);
      return;
    }
    if (run === this.run) this.connect(params);
  }

  /** Ends the subscription. */
  stop(): void {
    this.run += 1;
    this.source?.close();
    this.source = null;
    window.clearTimeout(this.retryTimer);
    this.cursor = null;
    this.streamCursor = null;
    this.keepCategory = null;
    this.deletions = new DeletionLog();
    this.held = [];
    this.heldDropped = 0;
    this.queue = [];
    this.reading = false;
    this.retries = 0;
    this.problem.replaceChildren();
    this.stopButton.disabled = true;
    this.setState("stopped");
  }

  pause(): void {
    if (this.state !== "live") return;
    this.setState("paused");
  }

  resume(): void {
    if (this.state !== "paused") return;
    const held = this.held;
    this.held = [];
    const dropped = this.heldDropped;
    this.heldDropped = 0;
    this.setState(this.source?.readyState === EventSource.OPEN ? "live" : "retrying");
    if (dropped > 0) {
      this.list.prepend(h("li", { class: "tail-gap" }, `${dropped} older message${dropped === 1 ? "" : "s"} arrived while paused and are not shown.`));
    }
    this.enqueue(held);
  }

  private syncLabels(): void {
    const kind = this.kindSelect.value as TailKind;
    this.nameInput.disabled = kind === "all";
    this.nameLabel.textContent = kind === "category" ? "Category" : kind === "stream" ? "Stream name" : "Name (not used)";
    this.fromLabel.textContent = kind === "stream" ? "Start at stream position" : "Start at global position";
  }

  /** The subscription parameters for a fresh start. */
  private async firstParams(target: TailTarget): Promise<Record<string, string>> {
    switch (target.kind) {
      case "stream": {
        let from = target.from;
        if (from === undefined) {
          const version = await rpc<number | null>(this.session.token, "stream.version", target.name);
          from = (version ?? -1) + 1;
        }
        return { stream: target.name, position: String(from) };
      }
      case "category":
        if (target.from !== undefined) return { category: target.name, position: String(target.from) };
        this.keepCategory = target.name;
        return { all: "true" };
      case "all":
        return target.from !== undefined ? { all: "true", position: String(target.from) } : { all: "true" };
    }
  }

  /** The parameters to resubscribe with after a lost connection, from the cursors. */
  private resumeParams(): Record<string, string> | null {
    const target = this.target!;
    if (target.kind === "stream" && this.streamCursor !== null) {
      return { stream: target.name, position: String(this.streamCursor + 1) };
    }
    if (target.kind === "category" && this.cursor !== null) {
      this.keepCategory = null;
      return { category: target.name, position: String(this.cursor + 1) };
    }
    if (target.kind === "all" && this.cursor !== null) return { all: "true", position: String(this.cursor + 1) };
    return null;
  }

  private connect(params: Record<string, string>): void {
    const run = this.run;
    const url = subscribeUrl(this.session.token, params);
    const source = new EventSource(url);
    this.source = source;
    this.opened = false;
    source.addEventListener("open", () => {
      if (run !== this.run) return;
      this.opened = true;
      this.retries = 0;
      this.problem.replaceChildren();
      if (this.state !== "paused") this.setState("live");
    });
    source.addEventListener("poke", (event) => {
      if (run !== this.run) return;
      this.onPoke(JSON.parse((event as MessageEvent<string>).data) as Poke);
    });
    source.addEventListener("deleted", (event) => {
      if (run !== this.run) return;
      const deleted = parseDeleted((event as MessageEvent<string>).data);
      if (deleted !== null) this.onDeleted(deleted);
    });
    source.addEventListener("error", () => {
      if (run !== this.run) return;
      source.close();
      if (!this.opened) void this.explain(params, run);
      else this.retry(params);
    });
  }

  /**
   * After a failed start, asks the server why (EventSource hides the status and body). This
   * request can send the token as a header, so it does.
   */
  private async explain(params: Record<string, string>, run: number): Promise<void> {
    const abort = new AbortController();
    try {
      const response = await fetch("subscribe?" + new URLSearchParams(params).toString(), {
        headers: { Authorization: "Bearer " + this.session.token },
        signal: abort.signal,
        cache: "no-store",
      });
      if (run !== this.run) return abort.abort();
      if (response.ok) {
        abort.abort();
        this.retry(params);
        return;
      }
      const text = await response.text();
      let message = text.trim();
      let code = "HTTP_" + response.status;
      try {
        const envelope = JSON.parse(text) as { error?: { code: string; message: string } };
        if (envelope.error) ({ code, message } = envelope.error);
      } catch {
        // SPEC §8.2 validation errors are plain text.
      }
      if (response.status >= 500) this.retry(params);
      else this.fail(new RpcError(response.status, code, message));
    } catch {
      if (run === this.run) this.retry(params);
    }
  }

  private retry(params: Record<string, string>): void {
    const run = this.run;
    this.retries += 1;
    const delay = Math.min(5000, 500 * 2 ** Math.min(this.retries, 4));
    if (this.state !== "paused") this.setState("retrying");
    this.retryTimer = window.setTimeout(() => {
      if (run === this.run) this.connect(this.resumeParams() ?? params);
    }, delay);
  }

  private fail(error: unknown): void {
    this.source?.close();
    this.source = null;
    this.setState("failed");
    replace(this.problem, errorBox(error, "The subscription failed"));
  }

  private onPoke(poke: Poke): void {
    if (this.cursor !== null && poke.globalPosition <= this.cursor) return;
    this.cursor = poke.globalPosition;
    if (this.target?.kind === "stream") this.streamCursor = poke.position;
    if (this.keepCategory !== null && categoryOf(poke.stream) !== this.keepCategory) return;
    if (this.state === "paused") {
      this.held.push(poke);
      if (this.held.length > MAX_SHOWN) {
        this.held.shift();
        this.heldDropped += 1;
      }
      this.setState("paused");
      return;
    }
    this.enqueue([poke]);
  }

  /**
   * Takes a deletion's messages off the list and out of the pokes still held or queued, and
   * tells the user. The global-position cursor is left alone: a stream subscription replays its
   * deletions before its pokes, so a deletion's position says nothing about the pokes to come.
   */
  private onDeleted(event: DeletedEvent): void {
    if (this.keepCategory !== null && categoryOf(event.stream) !== this.keepCategory) return;
    if (!this.deletions.take(event)) return;
    const live = (poke: Poke) => !this.deletions.gone(poke.stream, poke.position);
    this.held = this.held.filter(live);
    this.queue = this.queue.filter(live);
    let removed = 0;
    for (const item of Array.from(this.list.querySelectorAll<HTMLLIElement>(":scope > li[data-stream]"))) {
      if (this.deletions.gone(item.dataset.stream!, Number(item.dataset.position))) {
        item.remove();
        removed += 1;
      }
    }
    this.shown = Math.max(0, this.shown - removed);
    this.list.prepend(h("li", { class: "tail-gap tail-deleted" }, deletedNotice(event, removed)));
    while (this.list.children.length > MAX_SHOWN) this.list.lastElementChild!.remove();
    this.setState(this.state);
  }

  private enqueue(pokes: Poke[]): void {
    this.queue.push(...pokes);
    if (!this.reading) void this.drain();
  }

  /** Reads the queued poked messages, one `stream.get` per stream and burst, oldest first. */
  private async drain(): Promise<void> {
    const run = this.run;
    this.reading = true;
    try {
      while (this.queue.length > 0 && run === this.run) {
        const batch = this.queue.splice(0, this.queue.length).slice(-MAX_SHOWN);
        const byStream = new Map<string, Poke[]>();
        for (const poke of batch) {
          const list = byStream.get(poke.stream) ?? [];
          list.push(poke);
          byStream.set(poke.stream, list);
        }
        const found: Message[] = [];
        for (const [stream, pokes] of byStream) {
          const first = Math.min(...pokes.map((p) => p.position));
          const last = Math.max(...pokes.map((p) => p.position));
          const wanted = new Set(pokes.map((p) => p.globalPosition));
          const raw = await rpcRaw(this.session.token, "stream.get", stream, { position: first, batchSize: Math.min(1000, last - first + 1) });
          for (const message of streamMessages(raw, stream)) {
            if (wanted.has(message.globalPosition)) found.push(message);
          }
        }
        if (run !== this.run) return;
        found.sort((a, b) => a.globalPosition - b.globalPosition);
        // A deletion that arrived while these were read wins: its messages are gone.
        for (const message of found.filter((m) => !this.deletions.gone(m.stream, m.position))) {
          this.list.prepend(
            h("li", { "data-stream": message.stream, "data-position": message.position }, messageCard(message, "with-stream")),
          );
          this.shown += 1;
        }
        while (this.list.children.length > MAX_SHOWN) this.list.lastElementChild!.remove();
        this.setState(this.state);
      }
    } catch (e) {
      if (run === this.run) replace(this.problem, errorBox(e, "Could not read a poked message"));
    } finally {
      if (run === this.run) this.reading = false;
    }
  }

  private setState(state: State): void {
    this.state = state;
    this.element.dataset.state = state;
    this.pauseButton.disabled = state !== "live" && state !== "paused";
    this.pauseButton.textContent = state === "paused" ? "Resume" : "Pause";
    this.pauseButton.setAttribute("aria-pressed", String(state === "paused"));
    const what = this.describe();
    const text: Record<State, string> = {
      stopped: "Not running.",
      connecting: `Connecting to ${what}…`,
      live: `Live: ${what}. ${this.shown} shown.`,
      paused: `Paused: ${what}. ${this.held.length + this.heldDropped} new message${this.held.length + this.heldDropped === 1 ? "" : "s"} waiting.`,
      retrying: `Connection lost; reconnecting to ${what}…`,
      failed: `Stopped: ${what}.`,
    };
    this.status.textContent = text[state];
  }

  private describe(): string {
    const target = this.target;
    if (!target) return "nothing";
    if (target.kind === "all") return "all messages";
    return `${target.kind} ${target.name}`;
  }
}
