// Deleting a stream's messages from the console (SPEC §18): whether the server allows it, the
// `stream.delete` / `stream.truncate` calls, what their answer means, and how a stream page
// describes a stream that has lost messages. Pure functions, so they are unit-tested in Node.
//
// Deletion never lowers a stream's version and only ever removes a prefix of its positions
// (`stream.truncate`) or all of them (`stream.delete`), so what remains of a stream is read as:
// its version, and its lowest remaining position (or none).

import type { Encodable } from "./json";
import { Raw } from "./json";

/**
 * The stream the sign-in probe truncates before position 0 (the Rust client's
 * `DELETION_PROBE_STREAM`). Such a call removes nothing from any stream and records nothing, so
 * the name only has to be recognisable in the server's log; the `$` marks it as the console's
 * own, not an application's stream.
 */
export const DELETION_PROBE_STREAM = "$messagedb-deletion-probe";

/** Calls one RPC method and resolves to its parsed result (`rpc` with the session's token). */
export type Call = (method: string, ...args: Encodable[]) => Promise<unknown>;

/**
 * Whether the server lets this token delete. `sys.health` does not say (SPEC §6.1 fixes its
 * shape), so this asks the way a deletion would: `["stream.truncate", DELETION_PROBE_STREAM,
 * {"before":0}]`, answered `{"deleted":0,"version":…}` where deletion is allowed. Anything else
 * is `false`: 403 from a server started with `--allow-deletion=false`, an unknown method from a
 * server that predates deletion, a refused token, no answer at all. It never rejects, because a
 * failed probe must only hide the deletion actions, not fail the sign-in.
 */
export async function deletionAllowed(call: Call): Promise<boolean> {
  try {
    const answer = (await call("stream.truncate", DELETION_PROBE_STREAM, { before: 0 })) as Partial<DeleteResult> | null;
    return typeof answer?.deleted === "number" && typeof answer.version === "number";
  } catch {
    return false;
  }
}

/** What is wrong with a typed `before` position, or `null` when it is an integer ≥ 0. */
export function beforeProblem(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed === "") return "enter the first position to keep";
  return /^\d+$/.test(trimmed) ? null : "must be a whole number ≥ 0";
}

/**
 * Whether the confirmation matches: the stream name exactly as it is, not trimmed and not
 * case-folded, because `account-1` and `Account-1 ` are other streams.
 */
export function confirmed(typed: string, stream: string): boolean {
  return typed === stream;
}

export type DeletionKind = "delete" | "truncate";

/**
 * The RPC call for a deletion. `stream.delete` carries the version the user was shown as
 * `expectedVersion` (when known), so messages written since the page loaded are never deleted
 * unseen: the server answers 409 instead. `before` is sent as typed (`Raw`), so a position past
 * 2^53 keeps its digits and the server says whether it is acceptable.
 */
export function deletionCall(
  kind: DeletionKind,
  stream: string,
  options: { expectedVersion?: number | null; before?: string },
): { method: string; args: Encodable[] } {
  if (kind === "delete") {
    const expected = options.expectedVersion;
    return {
      method: "stream.delete",
      args: [stream, expected === undefined || expected === null ? undefined : { expectedVersion: expected }],
    };
  }
  const before = (options.before ?? "").trim();
  if (beforeProblem(before) !== null) throw new Error("before " + beforeProblem(before));
  return { method: "stream.truncate", args: [stream, { before: new Raw(BigInt(before).toString()) }] };
}

/** The answer of `stream.delete` and `stream.truncate`. */
export interface DeleteResult {
  deleted: number;
  version: number;
}

/** A sentence for a deletion's answer. */
export function deletedText(stream: string, result: DeleteResult): string {
  const removed =
    result.deleted === 0
      ? `Nothing to delete in ${stream}`
      : `Deleted ${result.deleted} message${result.deleted === 1 ? "" : "s"} from ${stream}`;
  if (result.version < 0) return removed + "; it was never written.";
  return `${removed}. It stays at version ${result.version}; the next write goes to position ${result.version + 1}.`;
}

/** What a stream page shows, and what it knows about the stream. */
export interface StreamPageFacts {
  /** `stream.version`: `null` for a stream never written. */
  version: number | null;
  /** The lowest remaining position, `null` when no message remains. */
  lowest: number | null;
  /** The positions of the messages on this page, ascending. */
  shown: number[];
  /** The position the page was asked to start at. */
  from: number;
}

/** The summary line above a stream page's messages. */
export function streamSummary(facts: StreamPageFacts): string {
  const { version, lowest, shown, from } = facts;
  if (version === null || version < 0) return "This stream has no messages.";
  if (lowest === null) {
    return `This stream has no messages: they were deleted. It stays at version ${version}, so the next write goes to position ${version + 1}.`;
  }
  if (shown.length === 0) return `No messages from position ${from}; the stream is at version ${version}.`;
  const range = `Positions ${shown[0]}–${shown[shown.length - 1]}`;
  if (lowest === 0) return `${range} of ${version + 1} message${version === 0 ? "" : "s"} (version ${version}).`;
  return `${range} (version ${version}); the messages before position ${lowest} were deleted.`;
}

/** An SSE `event: deleted` (SPEC §18): the messages of `stream` below `before` are gone. */
export interface DeletedEvent {
  before: number;
  globalPosition: number;
  stream: string;
}

/** Reads an `event: deleted`'s data, or `null` when it is not `{"before","globalPosition","stream"}`. */
export function parseDeleted(data: string): DeletedEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  const event = value as Partial<DeletedEvent> | null;
  if (
    typeof event?.before !== "number" ||
    typeof event.globalPosition !== "number" ||
    typeof event.stream !== "string"
  ) {
    return null;
  }
  return { before: event.before, globalPosition: event.globalPosition, stream: event.stream };
}

/**
 * The deletions a live tail was told of, so that it never shows a deleted message: the highest
 * `before` per stream (deletion only ever removes a prefix), and the highest deletion global
 * position taken, which drops the repeats a resubscription replays. Deletions arrive in ascending
 * global position among themselves; a stream subscription gets its replayed deletions before
 * its replayed pokes (SPEC §18), so this cursor is kept apart from the pokes' one.
 */
export class DeletionLog {
  private cursor = 0;
  private readonly floors = new Map<string, number>();

  /** Takes a deletion; `false` when it was taken before (a replay after a reconnect). */
  take(event: DeletedEvent): boolean {
    if (event.globalPosition <= this.cursor) return false;
    this.cursor = event.globalPosition;
    this.floors.set(event.stream, Math.max(this.floors.get(event.stream) ?? 0, event.before));
    return true;
  }

  /** Whether the message at `position` of `stream` is gone. */
  gone(stream: string, position: number): boolean {
    return position < (this.floors.get(stream) ?? 0);
  }
}

/** The live tail's notice for a deletion; `removed` is how many shown messages it took away. */
export function deletedNotice(event: DeletedEvent, removed: number): string {
  const taken = removed === 0 ? "" : ` (${removed} removed from this list)`;
  return `${event.stream}: the messages before position ${event.before} were deleted${taken}.`;
}
