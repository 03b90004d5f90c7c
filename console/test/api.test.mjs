// Unit tests for the token and message-array helpers of src/api.ts, run with `node --test test/`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bundled = await build({
  entryPoints: [join(here, "..", "src", "api.ts")],
  bundle: true,
  write: false,
  format: "esm",
  logLevel: "warning",
});
const api = await import(
  "data:text/javascript;base64," + Buffer.from(bundled.outputFiles[0].contents).toString("base64")
);

const R = "0".repeat(64);

test("namespaceOfToken decodes the id between ns_ and the last underscore", () => {
  assert.equal(api.namespaceOfToken(`ns_ZGVmYXVsdA_${R}`), "default");
  assert.equal(api.namespaceOfToken(`ns_dGVuYW50LWE_${R}`), "tenant-a");
  assert.equal(api.namespaceOfToken("abc"), null);
  assert.equal(api.namespaceOfToken("ns_x"), null);
  assert.equal(api.namespaceOfToken(`ns_!!_${R}`), null);
  assert.equal(api.namespaceOfToken(`ns__${R}`), null);
});

test("stream and category arrays keep payloads as raw text", () => {
  const raw =
    '[["0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e","Deposited",0,41,{"amount":12345678901234567890},null,"2025-01-15T10:30:00.123456Z"]]';
  const [m] = api.streamMessages(raw, "account-1");
  assert.equal(m.stream, "account-1");
  assert.equal(m.type, "Deposited");
  assert.equal(m.globalPosition, 41);
  assert.equal(m.data, '{"amount":12345678901234567890}');
  assert.equal(m.metadata, "null");
  const [c] = api.categoryMessages(
    '[["0190f2c4-3b1e-7c2a-9d4e-1f2a3b4c5d6e","account-1","T",3,7,{"a":1.50},{"m":1},"2025-01-15T10:30:00Z"]]',
  );
  assert.deepEqual([c.stream, c.type, c.position, c.globalPosition, c.data, c.metadata], [
    "account-1", "T", 3, 7, '{"a":1.50}', '{"m":1}',
  ]);
  assert.deepEqual(api.streamMessages("[]", "x"), []);
});

test("categoryOf splits at the first dash", () => {
  assert.equal(api.categoryOf("account-123+x"), "account");
  assert.equal(api.categoryOf("account"), "account");
  assert.equal(api.categoryOf("user-profile-456"), "user");
});

test("writeCall: one message is the stream.write of before, several are one stream.writeBatch", () => {
  const draft = (stream, type, data, metadata = "") => ({ stream, type, data, metadata });
  const typed = '{"n":98765432109876543210, "p":1.50}';
  const one = api.writeCall([draft("a-1", "T", typed, ' {"x":1} ')], "");
  assert.equal(one.method, "stream.write");
  assert.deepEqual(one.args, ["a-1", { type: "T", data: new api.Raw(typed), metadata: new api.Raw('{"x":1}') }, undefined]);
  const guarded = api.writeCall([draft("a-1", "T", "{}")], " 12345678901234567890 ");
  assert.deepEqual(guarded.args[2], { expectedVersion: new api.Raw("12345678901234567890") });

  const batch = api.writeCall([draft("a-1", "T", typed), draft("b-2", "U", "{}", "null")], "");
  assert.equal(batch.method, "stream.writeBatch");
  assert.deepEqual(batch.args, [
    [
      { stream: "a-1", type: "T", data: new api.Raw(typed), metadata: undefined },
      { stream: "b-2", type: "U", data: new api.Raw("{}"), metadata: new api.Raw("null") },
    ],
    undefined,
  ]);
  const checked = api.writeCall([draft("a-1", "T", "{}"), draft("b-2", "U", "{}")], "-1");
  assert.deepEqual(checked.args[1], { expectedVersions: { "a-1": new api.Raw("-1") } });
});
