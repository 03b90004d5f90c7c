// Builds the console into crates/messagedb-server/console-dist, which the server embeds with
// include_bytes!, so `cargo build` needs no Node. Run `npm run build` after changing src/ and
// commit the result; `node build.mjs --check` fails when the committed files are stale.
//
// Output: index.html (copied), app.js (src/main.ts and its imports, bundled and minified) and
// app.css (src/style.css, minified). esbuild's output depends only on its version (pinned in
// package-lock.json) and the sources, so the check is exact.

import { build } from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "crates", "messagedb-server", "console-dist");
const check = process.argv.includes("--check");
const banner = "/* messagedb console: built from console/src by console/build.mjs; do not edit. */";

const common = {
  bundle: true,
  minify: true,
  write: false,
  target: "es2020",
  legalComments: "none",
  banner: { js: banner, css: banner },
  logLevel: "warning",
};

const [js, css] = await Promise.all([
  build({ ...common, entryPoints: [join(here, "src", "main.ts")], format: "esm", outfile: "app.js" }),
  build({ ...common, entryPoints: [join(here, "src", "style.css")], outfile: "app.css" }),
]);

const files = {
  "index.html": await readFile(join(here, "src", "index.html")),
  "app.js": Buffer.from(js.outputFiles[0].contents),
  "app.css": Buffer.from(css.outputFiles[0].contents),
};

if (check) {
  const stale = [];
  for (const [name, contents] of Object.entries(files)) {
    const committed = await readFile(join(out, name)).catch(() => null);
    if (!committed || !committed.equals(contents)) stale.push(name);
  }
  if (stale.length > 0) {
    console.error(
      `console-dist is stale (${stale.join(", ")} differ from a fresh build of console/src).\n` +
        "Run `npm run build` in console/ and commit crates/messagedb-server/console-dist.",
    );
    process.exit(1);
  }
  console.log("console-dist matches console/src");
} else {
  await mkdir(out, { recursive: true });
  for (const [name, contents] of Object.entries(files)) {
    await writeFile(join(out, name), contents);
    console.log(`${join("crates/messagedb-server/console-dist", name)}  ${contents.length} bytes`);
  }
}
