// Unit tests for src/deletion.ts (stream.delete / stream.truncate in the console), run with
// `node --test test/`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// One bundle for both modules, so `encode` recognises deletion.ts's `Raw` values.
const bundled = await build({
  stdin: {
    contents: 'export * from "./deletion"; export { encode } from "./json";',
    resolveDir: join(here, "..", "src"),
    loader: "ts",
  },
  bundle: true,
  write: false,
  format: "esm",
  logLevel: "warning",
});
const deletion = await import(
  "data:text/javascript;base64," + Buffer.from(bundled.outputFiles[0].contents).toString("base64")
);

test("the deletion probe truncates a stream of its own before 0, and only a deletion answer allows", async () => {
  const sent = [];
  const answering = (answer) => async (method, ...args) => {
    sent.push(deletion.encode([method, ...args]));
    return answer;
  };
  assert.equal(await deletion.deletionAllowed(answering({ deleted: 0, version: -1 })), true);
  assert.deepEqual(sent, ['["stream.truncate","$messagedb-deletion-probe",{"before":0}]']);
  assert.equal(deletion.DELETION_PROBE_STREAM, "$messagedb-deletion-probe");
  // A success that is not a deletion result is not a server that deletes.
  assert.equal(await deletion.deletionAllowed(answering(null)), false);
  assert.equal(await deletion.deletionAllowed(answering({ deleted: "0", version: -1 })), false);
  assert.equal(await deletion.deletionAllowed(answering("ok")), false);
});

test("a refused or failed probe means no deletion, and never rejects", async () => {
  const refusing = (status, code, message) => async () => {
    throw Object.assign(new Error(message), { status, code });
  };
  // --allow-deletion=false, a server that predates deletion, a refused token, no answer.
  const refusals = [
    refusing(403, "AUTH_UNAUTHORIZED", "Deletion is disabled on this server"),
    refusing(404, "METHOD_NOT_FOUND", "Unknown method: stream.truncate"),
    refusing(401, "AUTH_REQUIRED", "Authorization required"),
    refusing(0, "NETWORK_ERROR", "The server did not answer"),
    () => {
      throw new Error("thrown before a promise");
    },
  ];
  for (const call of refusals) assert.equal(await deletion.deletionAllowed(call), false);
});

test("the confirmation must be the stream name exactly", () => {
  assert.equal(deletion.confirmed("account-1", "account-1"), true);
  assert.equal(deletion.confirmed("account-", "account-1"), false);
  assert.equal(deletion.confirmed("account-1 ", "account-1"), false);
  assert.equal(deletion.confirmed("Account-1", "account-1"), false);
  assert.equal(deletion.confirmed("", ""), true, "an empty name cannot reach a stream page, but matches itself");
});

test("before must be a whole number >= 0", () => {
  assert.equal(deletion.beforeProblem("0"), null);
  assert.equal(deletion.beforeProblem(" 5 "), null);
  assert.equal(deletion.beforeProblem("98765432109876543210"), null);
  assert.match(deletion.beforeProblem(""), /first position/);
  for (const bad of ["-1", "1.5", "1e3", "abc", "0x10", "+2"]) {
    assert.equal(deletion.beforeProblem(bad), "must be a whole number ≥ 0", bad);
  }
});

test("the calls follow SPEC §18, with before sent as typed", () => {
  const body = (call) => deletion.encode([call.method, ...call.args]);
  assert.equal(body(deletion.deletionCall("delete", "account-1", { expectedVersion: 4 })), '["stream.delete","account-1",{"expectedVersion":4}]');
  // An unknown version (or a stream never written) sends no options; a trailing undefined is
  // dropped by rpcRaw, and encodes as null only here.
  const plain = deletion.deletionCall("delete", "account-1", { expectedVersion: null });
  assert.deepEqual(plain, { method: "stream.delete", args: ["account-1", undefined] });
  assert.equal(
    body(deletion.deletionCall("truncate", "account-1", { before: " 98765432109876543210 " })),
    '["stream.truncate","account-1",{"before":98765432109876543210}]',
  );
  assert.throws(() => deletion.deletionCall("truncate", "account-1", { before: "-1" }));
});

test("the answer is told as a sentence", () => {
  assert.equal(
    deletion.deletedText("account-1", { deleted: 3, version: 2 }),
    "Deleted 3 messages from account-1. It stays at version 2; the next write goes to position 3.",
  );
  assert.equal(
    deletion.deletedText("account-1", { deleted: 1, version: 9 }),
    "Deleted 1 message from account-1. It stays at version 9; the next write goes to position 10.",
  );
  assert.equal(
    deletion.deletedText("account-1", { deleted: 0, version: 9 }),
    "Nothing to delete in account-1. It stays at version 9; the next write goes to position 10.",
  );
  assert.equal(deletion.deletedText("new-1", { deleted: 0, version: -1 }), "Nothing to delete in new-1; it was never written.");
});

test("a stream page's summary tells what remains of a stream", () => {
  const summary = (version, lowest, shown, from = 0) => deletion.streamSummary({ version, lowest, shown, from });
  assert.equal(summary(null, null, []), "This stream has no messages.");
  assert.equal(summary(2, 0, [0, 1, 2]), "Positions 0–2 of 3 messages (version 2).");
  assert.equal(summary(0, 0, [0]), "Positions 0–0 of 1 message (version 0).");
  assert.equal(summary(9, 5, [5, 6, 7, 8, 9]), "Positions 5–9 (version 9); the messages before position 5 were deleted.");
  assert.equal(
    summary(2, null, []),
    "This stream has no messages: they were deleted. It stays at version 2, so the next write goes to position 3.",
  );
  assert.equal(summary(9, 0, [], 40), "No messages from position 40; the stream is at version 9.");
});

test("an event: deleted is read from its data, and anything else is ignored", () => {
  assert.deepEqual(deletion.parseDeleted('{"before":3,"globalPosition":42,"stream":"account-1"}'), {
    before: 3,
    globalPosition: 42,
    stream: "account-1",
  });
  for (const bad of ["", "null", "[]", '{"before":"3","globalPosition":42,"stream":"a-1"}', '{"before":3,"stream":"a-1"}', "{"]) {
    assert.equal(deletion.parseDeleted(bad), null, bad);
  }
});

test("the live tail's deletion log knows each stream's deleted prefix and drops replays", () => {
  const log = new deletion.DeletionLog();
  assert.equal(log.gone("account-1", 0), false, "nothing is gone before a deletion");
  assert.equal(log.take({ before: 3, globalPosition: 10, stream: "account-1" }), true);
  assert.equal(log.gone("account-1", 2), true);
  assert.equal(log.gone("account-1", 3), false, "before is the first position kept");
  assert.equal(log.gone("account-2", 0), false, "other streams are untouched");
  // A resubscription replays deletions at or below the cursor: they are taken once.
  assert.equal(log.take({ before: 3, globalPosition: 10, stream: "account-1" }), false);
  // A later, smaller truncation never brings deleted positions back.
  assert.equal(log.take({ before: 1, globalPosition: 12, stream: "account-1" }), true);
  assert.equal(log.gone("account-1", 2), true);
  // A stream deletion (before = version + 1) takes everything written so far.
  assert.equal(log.take({ before: 8, globalPosition: 15, stream: "account-2" }), true);
  assert.equal(log.gone("account-2", 7), true);
  assert.equal(log.gone("account-2", 8), false, "the next write lands at version + 1");
});

test("the live tail tells the user about a deletion", () => {
  const event = { before: 3, globalPosition: 42, stream: "account-1" };
  assert.equal(deletion.deletedNotice(event, 0), "account-1: the messages before position 3 were deleted.");
  assert.equal(
    deletion.deletedNotice(event, 2),
    "account-1: the messages before position 3 were deleted (2 removed from this list).",
  );
});
