// Unit tests for src/json.ts (raw payload handling), run with `node --test test/`.
// The TypeScript module is bundled in memory by esbuild and imported from a data: URL.

import { test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const bundled = await build({
  entryPoints: [join(here, "..", "src", "json.ts")],
  bundle: true,
  write: false,
  format: "esm",
  logLevel: "warning",
});
const json = await import(
  "data:text/javascript;base64," + Buffer.from(bundled.outputFiles[0].contents).toString("base64")
);

const text = (tokens) => tokens.map((t) => t.text).join("");

test("elements cuts out the raw text of each array element", () => {
  const raw =
    '[["id","T",0,1,{"b":1,"a":[1,2.50,1e3],"big":12345678901234567890},null,"t"], [ "x,]" , {"s":"\\"]"} ] ]';
  const outer = json.elements(raw);
  assert.equal(outer.length, 2);
  const first = json.elements(outer[0]);
  assert.deepEqual(first, [
    '"id"',
    '"T"',
    "0",
    "1",
    '{"b":1,"a":[1,2.50,1e3],"big":12345678901234567890}',
    "null",
    '"t"',
  ]);
  assert.deepEqual(json.elements(outer[1]), ['"x,]"', '{"s":"\\"]"}']);
  assert.deepEqual(json.elements("[]"), []);
  assert.deepEqual(json.elements(" [ ] "), []);
  assert.equal(json.elements("{}"), null);
});

test("pretty changes whitespace only and keeps every spelling", () => {
  const raw = '{"b":1,"a":{"z":[1,2.50,1e3,-0]},"big":12345678901234567890,"dup":1,"dup":2,"e":"\\u00e9 <&>","o":{},"l":[]}';
  const out = text(json.pretty(raw));
  assert.equal(out.replace(/\s+(?=(?:[^"\\]|\\.|"(?:[^"\\]|\\.)*")*$)/g, ""), raw);
  assert.ok(out.includes("12345678901234567890"));
  assert.ok(out.includes("2.50"));
  assert.ok(out.includes('"dup": 1,\n  "dup": 2'));
  assert.ok(out.includes('"o": {}'));
  assert.ok(out.includes('"l": []'));
  assert.equal(text(json.pretty('{"a":[1,{"b":null}]}')), '{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}');
});

test("tokenize marks keys, strings, numbers and literals", () => {
  const kinds = json
    .tokenize('{"k":"v","n":-1.5e3,"t":true,"f":false,"z":null}')
    .filter((t) => t.kind !== "punct")
    .map((t) => `${t.kind}:${t.text}`);
  assert.deepEqual(kinds, [
    'key:"k"', 'string:"v"', 'key:"n"', "number:-1.5e3", 'key:"t"', "literal:true",
    'key:"f"', "literal:false", 'key:"z"', "literal:null",
  ]);
  // A string value containing a colon is not a key.
  assert.deepEqual(
    json.tokenize('["a:b",":"]').filter((t) => t.kind === "string").map((t) => t.text),
    ['"a:b"', '":"'],
  );
});

test("encode inserts raw text verbatim and leaves out undefined entries", () => {
  const body = json.encode([
    "stream.write",
    "s-1",
    { type: "T", data: new json.Raw('{"n":12345678901234567890}'), metadata: undefined },
    { expectedVersion: new json.Raw("-1") },
  ]);
  assert.equal(body, '["stream.write","s-1",{"type":"T","data":{"n":12345678901234567890}},{"expectedVersion":-1}]');
});

test("objectProblem accepts objects and explains everything else", () => {
  assert.equal(json.objectProblem('{"a":1}', "object-only"), null);
  assert.equal(json.objectProblem("null", "object-or-null"), null);
  assert.match(json.objectProblem("null", "object-only"), /not null/);
  assert.match(json.objectProblem("[1]", "object-only"), /not an array/);
  assert.match(json.objectProblem("1", "object-only"), /not a number/);
  assert.match(json.objectProblem("{", "object-only"), /not valid JSON/);
});

test("lineCount counts the lines of pretty output", () => {
  assert.equal(json.lineCount(json.pretty("{}")), 1);
  assert.equal(json.lineCount(json.pretty('{"a":1,"b":2}')), 4);
});
