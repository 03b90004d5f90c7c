// End-to-end test of the web console in a real headless Chromium, driven by playwright-core.
//
// Run by crates/messagedb/tests/it/console.rs, which starts a real messagedb server, writes the
// streams this script expects, and passes:
//   MESSAGEDB_URL       the server's base URL (http://127.0.0.1:<port>)
//   MESSAGEDB_TOKEN     the admin token
//   CONSOLE_STREAM      a stream with 3 messages: a big-number payload (position 0), a large
//                       payload (1) and one with correlation metadata (2)
//   CONSOLE_TENANT_TOKEN the token of namespace `acme`, which is empty
//   CONSOLE_DELETION_STREAM a stream with 5 messages, types Step0…Step4 at positions 0–4, which
//                       the test truncates before position 3 and then deletes
//   CONSOLE_REFUSING_URL the base URL of a second server, started with --allow-deletion=false,
//                       that takes the same admin token
//   CONSOLE_SCREENSHOTS the folder the screenshots go to
//   CHROMIUM            the browser executable (default /usr/bin/chromium)
// Every wait has a deadline; nothing sleeps for a fixed time. On failure the page is saved as
// failure.png in the screenshot folder and the script exits 1.

import { chromium } from "playwright-core";
import { mkdtemp, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const url = required("MESSAGEDB_URL");
const token = required("MESSAGEDB_TOKEN");
const stream = required("CONSOLE_STREAM");
const shots = required("CONSOLE_SCREENSHOTS");
const acmeToken = required("CONSOLE_TENANT_TOKEN");
const deletionStream = required("CONSOLE_DELETION_STREAM");
const refusingUrl = required("CONSOLE_REFUSING_URL");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const category = stream.split("-")[0];
// The write page's batch test writes one message to each of these new streams (the Rust side
// reads them back), with data that a re-serialisation would change.
const batchStreams = ["batchone-e2e", "batchtwo-e2e"];
const batchData = '{"batch":true,"n":98765432109876543210,"price":2.50}';
const WAIT = 15_000;

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is not set; run this through cargo test (crates/messagedb/tests/it/console.rs)`);
    process.exit(2);
  }
  return value;
}

function step(text) {
  console.log(`console e2e: ${text}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function shot(page, name) {
  await page.screenshot({ path: join(shots, name), fullPage: true });
}

/** Waits until `locator`'s text contains `text`. */
async function waitForText(locator, text) {
  await locator.filter({ hasText: text }).first().waitFor({ timeout: WAIT });
}

await mkdir(shots, { recursive: true });
const profile = await mkdtemp(join(tmpdir(), "messagedb-console-e2e-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
  ],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(WAIT);
const consoleErrors = [];
page.on("console", (message) => {
  // Refused sign-ins are expected 401/403 answers, which Chromium also logs as errors.
  if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
    consoleErrors.push(message.text());
  }
});
page.on("pageerror", (error) => consoleErrors.push(String(error)));
// The console must need nothing but the messagedb server: any other request is a failure.
const foreign = [];
page.on("request", (request) => {
  const target = request.url();
  if (!target.startsWith(url + "/") && !target.startsWith(refusingUrl + "/") && !target.startsWith("data:")) {
    foreign.push(target);
  }
});

let failed = false;
try {
  await run();
  check(foreign.length === 0, `requests outside the server: ${foreign.join(", ")}`);
  step("done");
} catch (error) {
  failed = true;
  console.error(`console e2e failed: ${error && error.stack ? error.stack : error}`);
  if (consoleErrors.length) console.error(`browser console errors:\n  ${consoleErrors.join("\n  ")}`);
  await page.screenshot({ path: join(shots, "failure.png"), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  await rm(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);

async function run() {
  step("open /console");
  const response = await page.goto(url + "/console");
  check(response && response.status() === 200, `GET /console answered ${response && response.status()}`);
  const tokenInput = page.getByLabel("Token");
  await tokenInput.waitFor();

  step("a malformed token gets a clear error");
  await tokenInput.fill("abc");
  await page.getByRole("button", { name: "Sign in" }).click();
  const alert = page.getByRole("alert");
  await waitForText(alert, "Invalid token format");
  await waitForText(alert, "missing 'ns_' prefix");
  await waitForText(alert, "AUTH_INVALID_TOKEN");

  step("a well-formed but wrong token gets a clear error");
  const wrong = "ns_ZGVmYXVsdA_" + "f".repeat(64);
  check(wrong !== token, "the test token must not be the wrong one");
  await tokenInput.fill(wrong);
  await page.getByRole("button", { name: "Sign in" }).click();
  await waitForText(alert, "Token not authorized for namespace");
  await waitForText(alert, "AUTH_UNAUTHORIZED");
  check((await page.evaluate(() => sessionStorage.length)) === 0, "a refused token must not be stored");
  await shot(page, "01-signin-error.png");

  step("sign in with the admin token, from the keyboard");
  await tokenInput.fill(token);
  await tokenInput.press("Enter");
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  const header = page.locator("header");
  await waitForText(header, "default");
  await waitForText(header, "admin");
  check(!page.url().includes(token), "the token must not be in the page URL");
  check(
    (await page.evaluate(() => sessionStorage.getItem("messagedb.console.token"))) === token,
    "the token is kept in session storage",
  );

  step("keyboard: the first Tab stop skips to the content");
  await page.keyboard.press("Tab");
  check(
    (await page.evaluate(() => document.activeElement && document.activeElement.textContent)) === "Skip to content",
    "the skip link is the first Tab stop",
  );
  await page.keyboard.press("Enter");
  check((await page.evaluate(() => document.activeElement && document.activeElement.id)) === "main", "the skip link focuses the content");

  step("overview: figures, categories and namespaces");
  await page.getByRole("table", { name: /Categories/ }).getByRole("link", { name: category, exact: true }).waitFor();
  await page.getByRole("table", { name: /Namespaces/ }).getByText("default", { exact: true }).first().waitFor();
  await shot(page, "02-overview.png");

  step("admin: create a namespace, then delete it after typing its id");
  const tenant = "e2e-tenant";
  await page.getByLabel("Id", { exact: true }).fill(tenant);
  await page.getByLabel("Description (optional)").fill("Made by the console e2e test");
  await page.getByRole("button", { name: "Create namespace" }).click();
  const tenantToken = page.getByLabel("Token of " + tenant);
  await tenantToken.waitFor();
  check((await tenantToken.inputValue()).startsWith("ns_"), "the new token is shown");
  const namespaces = page.getByRole("table", { name: /Namespaces/ });
  await namespaces.getByText(tenant, { exact: true }).waitFor();
  await page.getByRole("button", { name: "Delete namespace " + tenant }).click();
  const dialog = page.getByRole("dialog");
  const forever = dialog.getByRole("button", { name: "Delete for ever" });
  check(await forever.isDisabled(), "delete is disabled until the id is typed");
  await dialog.getByLabel("Type the namespace id to confirm").fill(tenant.slice(0, -1));
  check(await forever.isDisabled(), "delete stays disabled for a wrong id");
  await dialog.getByLabel("Type the namespace id to confirm").fill(tenant);
  await shot(page, "03-delete-namespace.png");
  await forever.click();
  await waitForText(page.getByRole("status"), `Deleted namespace ${tenant}`);
  await namespaces.getByText(tenant, { exact: true }).waitFor({ state: "detached" });

  step("streams browser: cursor paging");
  await page.getByRole("link", { name: "Streams", exact: true }).click();
  await page.getByRole("heading", { name: "Streams", level: 1 }).waitFor();
  await page.getByLabel("Name starts with").fill("page-");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "page-24", exact: true }).waitFor();
  check((await page.locator("main tbody tr").count()) === 25, "the first page holds 25 streams");
  await page.getByRole("link", { name: "Next page" }).click();
  await page.getByRole("link", { name: "page-26", exact: true }).waitFor();
  check((await page.locator("main tbody tr").count()) === 2, "the second page holds the other 2");
  check((await page.getByRole("link", { name: "Next page" }).count()) === 0, "no page after the last");
  await page.goBack();
  await page.getByRole("link", { name: "page-00", exact: true }).waitFor();

  step("streams browser: prefix search finds the test stream");
  await page.getByRole("link", { name: "Streams", exact: true }).click();
  await page.getByRole("heading", { name: "Streams", level: 1 }).waitFor();
  await page.getByLabel("Name starts with").fill(category);
  await page.getByRole("button", { name: "Search" }).click();
  const streamLink = page.getByRole("link", { name: stream, exact: true });
  await streamLink.waitFor();
  await shot(page, "04-streams.png");

  step("stream page: messages with faithful payloads");
  await streamLink.click();
  await page.getByRole("heading", { name: "Stream " + stream, level: 1 }).waitFor();
  const messages = page.locator("main article.message");
  await messages.nth(2).waitFor();
  check((await messages.count()) === 3, `expected 3 messages, saw ${await messages.count()}`);
  const first = messages.first();
  const firstText = await first.textContent();
  check(firstText.includes("12345678901234567890"), "a big integer is shown with every digit");
  check(firstText.includes("1.50"), "a number keeps its spelling");
  check(firstText.includes("Deposited"), "the type is shown");
  check(firstText.includes("pos 0") && /gpos \d+/.test(firstText), "positions are shown");
  check((await first.locator(".j-key").count()) > 0, "payloads are syntax-highlighted");
  check(firstText.includes("<b>not markup</b>"), "payload text is shown as text");
  check((await first.locator("b").count()) === 0, "payload text never becomes markup");
  const large = messages.nth(1).locator("details.payload");
  check((await large.count()) === 1, "a large payload is collapsed");
  check(!(await large.evaluate((el) => el.open)), "a large payload starts closed");
  await large.locator("summary").focus();
  await page.keyboard.press("Enter");
  await waitForText(large.locator("pre"), "line-59");
  await shot(page, "05-stream.png");

  step("write form: invalid JSON is refused in the browser");
  const form = page.getByRole("form", { name: "Write a message to " + stream });
  await form.getByLabel("Type").fill("ConsoleWritten");
  await form.getByLabel("Data (a JSON object)").fill("{not json");
  await form.getByRole("button", { name: "Write message" }).click();
  await waitForText(form, "not valid JSON");

  step("write form: a stale expectedVersion shows the server's conflict");
  await form.getByLabel("Data (a JSON object)").fill('{"written":"by the console","n":98765432109876543210}');
  await form.getByLabel("Expected version (optional)").fill("0");
  await form.getByRole("button", { name: "Write message" }).click();
  await waitForText(form.getByRole("alert"), "Expected version 0, stream is at version 2");
  await waitForText(form.getByRole("alert"), "STREAM_VERSION_CONFLICT");

  step("live tail: subscribe to the stream");
  await page.getByRole("button", { name: "Tail this stream" }).click();
  const tail = page.getByRole("complementary", { name: "Live tail" });
  await waitForText(tail.getByRole("status"), "Live: stream " + stream);

  step("write form: a good write appears in the live tail");
  await form.getByLabel("Expected version (optional)").fill("2");
  await form.getByRole("button", { name: "Write message" }).click();
  await waitForText(form.getByRole("status"), "at position 3");
  const tailed = tail.locator("article.message").filter({ hasText: "ConsoleWritten" });
  await tailed.waitFor();
  const tailedText = await tailed.textContent();
  check(tailedText.includes("98765432109876543210"), "the tail shows the written payload faithfully");
  check(tailedText.includes("pos 3"), "the tail shows the new position");
  await messages.nth(3).waitFor();
  await shot(page, "06-tail.png");

  step("live tail: pause holds new messages back, resume shows them");
  await tail.getByRole("button", { name: "Pause" }).click();
  await waitForText(tail.getByRole("status"), "Paused");
  await form.getByLabel("Expected version (optional)").fill("");
  await form.getByLabel("Type").fill("WhilePaused");
  await form.getByRole("button", { name: "Write message" }).click();
  await waitForText(form.getByRole("status"), "at position 4");
  await waitForText(tail.getByRole("status"), "1 new message waiting");
  check((await tail.locator("article.message").filter({ hasText: "WhilePaused" }).count()) === 0, "paused: not shown yet");
  await tail.getByRole("button", { name: "Resume" }).click();
  await tail.locator("article.message").filter({ hasText: "WhilePaused" }).waitFor();

  step("live tail: a category from global position 1 replays it");
  await tail.getByLabel("Subscribe to").selectOption("category");
  await tail.getByLabel("Category").fill("ledger");
  await tail.getByLabel("Start at global position").fill("1");
  await tail.getByRole("button", { name: "Start" }).click();
  await waitForText(tail.getByRole("status"), "Live: category ledger");
  await tail.locator("article.message").filter({ hasText: "Correlated" }).waitFor();
  await tail.getByRole("button", { name: "Stop" }).click();
  await waitForText(tail.getByRole("status"), "Not running");

  step("category page: correlation filter");
  await page.getByRole("link", { name: "category " + category }).click();
  await page.getByRole("heading", { name: "Category " + category, level: 1 }).waitFor();
  const categoryMessages = page.locator("main article.message");
  await categoryMessages.nth(4).waitFor();
  await page.getByLabel("Correlation category").fill("workflow");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForFunction(() => location.hash.includes("correlation=workflow"));
  await page.locator("main article.message").first().waitFor();
  await page.waitForFunction(() => document.querySelectorAll("main article.message").length === 1);
  await waitForText(page.locator("main article.message"), "Correlated");
  await shot(page, "07-category.png");

  step("write page: two messages in one stream.writeBatch");
  await page.getByRole("link", { name: "Write", exact: true }).click();
  await page.getByRole("heading", { name: "Write a message", level: 1 }).waitFor();
  const writeForm = page.getByRole("form", { name: "Write a message" });
  await writeForm.getByLabel("Stream").fill(batchStreams[0]);
  await writeForm.getByLabel("Type").fill("BatchFirst");
  await writeForm.getByLabel("Data (a JSON object)").fill(batchData);
  await writeForm.getByRole("button", { name: "Add message" }).click();
  const second = writeForm.getByRole("group", { name: "Message 2" });
  await second.waitFor();
  await writeForm.getByRole("group", { name: "Message 1" }).waitFor();
  await second.getByLabel("Stream").fill(batchStreams[1]);
  await second.getByLabel("Type").fill("BatchSecond");
  await second.getByLabel("Data (a JSON object)").fill(batchData);
  await second.getByLabel("Metadata (optional JSON object)").fill('{"correlationStreamName":"workflow-9"}');
  await writeForm.getByRole("button", { name: "Write 2 messages" }).click();
  await waitForText(writeForm.getByRole("status"), "Wrote 2 messages in one atomic batch");
  const results = writeForm.getByRole("table", { name: "Written messages" });
  const rows = results.locator("tbody tr");
  await rows.nth(1).waitFor();
  check((await rows.count()) === 2, `expected 2 result rows, saw ${await rows.count()}`);
  const cells = async (row) => (await rows.nth(row).locator("td").allTextContents()).map((t) => t.trim());
  const [r0, r1] = [await cells(0), await cells(1)];
  check(r0[0] === batchStreams[0] && r0[1] === "0", `first result: ${r0}`);
  check(r1[0] === batchStreams[1] && r1[1] === "0", `second result: ${r1}`);
  check(Number(r1[2]) === Number(r0[2]) + 1, `consecutive global positions: ${r0[2]}, ${r1[2]}`);
  await shot(page, "08-write-batch.png");

  step("write page: the batch's messages appear in their streams");
  for (const [i, name] of batchStreams.entries()) {
    // The first through the result table's link, the second by its URL (going back re-renders
    // the write page, whose results are gone).
    if (i === 0) await results.getByRole("link", { name, exact: true }).click();
    else await page.goto(url + "/console#/stream/" + encodeURIComponent(name));
    await page.getByRole("heading", { name: "Stream " + name, level: 1 }).waitFor();
    const shown = page.locator("main article.message");
    await shown.first().waitFor();
    const text = await shown.first().textContent();
    check((await shown.count()) === 1, `${name} holds one message`);
    check(text.includes(i === 0 ? "BatchFirst" : "BatchSecond"), `${name} shows its message's type`);
    check(text.includes("98765432109876543210") && text.includes("2.50"), `${name} shows the payload as typed`);
  }

  step("truncate: the button stays disabled until the exact stream name is typed");
  await page.goto(url + "/console#/stream/" + encodeURIComponent(deletionStream));
  await page.getByRole("heading", { name: "Stream " + deletionStream, level: 1 }).waitFor();
  const kept = page.locator("main article.message");
  await kept.nth(4).waitFor();
  check((await kept.count()) === 5, `expected 5 messages before the deletions, saw ${await kept.count()}`);

  step("live tail: a category replay shows the stream's 5 messages before the deletions");
  const deletionCategory = deletionStream.split("-")[0];
  await tail.getByLabel("Subscribe to").selectOption("category");
  await tail.getByLabel("Category").fill(deletionCategory);
  await tail.getByLabel("Start at global position").fill("1");
  await tail.getByRole("button", { name: "Start" }).click();
  await waitForText(tail.getByRole("status"), "Live: category " + deletionCategory);
  const tailedSteps = tail.locator("article.message");
  await tailedSteps.filter({ hasText: "Step4" }).waitFor();
  check((await tailedSteps.count()) === 5, `the tail shows 5 messages, saw ${await tailedSteps.count()}`);
  const tailNotices = tail.locator(".tail-deleted");

  await page.getByRole("button", { name: "Truncate before…" }).click();
  const truncateDialog = page.getByRole("dialog", { name: "Truncate stream " + deletionStream + "?" });
  const truncateButton = truncateDialog.getByRole("button", { name: "Truncate for ever" });
  const confirmName = truncateDialog.getByLabel("Type the stream name to confirm");
  const before = truncateDialog.getByLabel("Delete the messages before position");
  check(await truncateButton.isDisabled(), "truncate is disabled before anything is typed");
  await before.fill("3");
  check(await truncateButton.isDisabled(), "truncate stays disabled without the stream name");
  await confirmName.fill(deletionStream.slice(0, -1));
  check(await truncateButton.isDisabled(), "truncate stays disabled for a wrong name");
  await confirmName.fill(deletionStream.toUpperCase());
  check(await truncateButton.isDisabled(), "truncate stays disabled for a name in other case");
  await confirmName.fill(deletionStream);
  check(await truncateButton.isEnabled(), "truncate is enabled once the name and position are right");
  await before.fill("-1");
  await waitForText(truncateDialog, "must be a whole number");
  check(await truncateButton.isDisabled(), "truncate is disabled for a negative position");
  await before.fill("3");
  check(await truncateButton.isEnabled(), "truncate is enabled again");
  await shot(page, "09-truncate-dialog.png");

  step("truncate: only the remaining messages are shown");
  await truncateButton.click();
  await truncateDialog.waitFor({ state: "detached" });
  await waitForText(page.getByRole("status"), `Deleted 3 messages from ${deletionStream}. It stays at version 4`);
  await waitForText(page.locator("main .summary"), "the messages before position 3 were deleted");
  await page.waitForFunction(() => document.querySelectorAll("main article.message").length === 2);
  const remaining = await kept.allTextContents();
  await waitForText(tailNotices, `${deletionStream}: the messages before position 3 were deleted (3 removed from this list).`);
  await page.waitForFunction(() => document.querySelectorAll(".tail article.message").length === 2);
  const tailRemaining = await tailedSteps.allTextContents();
  check(
    tailRemaining.some((t) => t.includes("Step3")) && tailRemaining.some((t) => t.includes("Step4")),
    `the tail keeps Step3 and Step4: ${tailRemaining.join(" | ")}`,
  );
  check(remaining[0].includes("Step3") && remaining[0].includes("pos 3"), `first remaining: ${remaining[0]}`);
  check(remaining[1].includes("Step4") && remaining[1].includes("pos 4"), `second remaining: ${remaining[1]}`);
  check(
    (await page.evaluate(() => document.activeElement && document.activeElement.textContent)) === "Truncate before…",
    "focus returns to the button that opened the dialog",
  );

  step("delete: cancel leaves the stream alone; typing the name enables the deletion");
  await page.getByRole("button", { name: "Delete stream…" }).click();
  const deleteDialog = page.getByRole("dialog", { name: "Delete stream " + deletionStream + "?" });
  const deleteButton = deleteDialog.getByRole("button", { name: "Delete for ever" });
  check(await deleteButton.isDisabled(), "delete is disabled before the name is typed");
  await deleteDialog.getByRole("button", { name: "Cancel" }).click();
  await deleteDialog.waitFor({ state: "detached" });
  check((await kept.count()) === 2, "a cancelled deletion removes nothing");
  await page.getByRole("button", { name: "Delete stream…" }).click();
  await deleteDialog.getByLabel("Type the stream name to confirm").fill(deletionStream + " ");
  check(await deleteButton.isDisabled(), "delete stays disabled for the name with a trailing space");
  await deleteDialog.getByLabel("Type the stream name to confirm").fill(deletionStream);
  check(await deleteButton.isEnabled(), "delete is enabled once the exact name is typed");
  await shot(page, "10-delete-dialog.png");
  await deleteButton.click();
  await deleteDialog.waitFor({ state: "detached" });
  await waitForText(page.getByRole("status"), `Deleted 2 messages from ${deletionStream}. It stays at version 4`);
  await waitForText(page.locator("main .summary"), "This stream has no messages: they were deleted");
  await page.waitForFunction(() => document.querySelectorAll("main article.message").length === 0);
  await waitForText(tailNotices, `${deletionStream}: the messages before position 5 were deleted (2 removed from this list).`);
  await page.waitForFunction(() => document.querySelectorAll(".tail article.message").length === 0);
  check((await tailNotices.count()) === 2, `one notice per deletion, saw ${await tailNotices.count()}`);
  await shot(page, "11-deleted.png");
  await tail.getByRole("button", { name: "Stop" }).click();
  await waitForText(tail.getByRole("status"), "Not running");

  step("narrow screen: one column, no sideways scrolling");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url + "/console#/stream/" + encodeURIComponent(stream));
  await page.getByRole("heading", { name: "Stream " + stream, level: 1 }).waitFor();
  await messages.first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 1, `the page scrolls sideways by ${overflow}px on a narrow screen`);
  await shot(page, "12-stream-narrow.png");

  step("sign out forgets the token");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").waitFor();
  check((await page.evaluate(() => sessionStorage.length)) === 0, "sign-out clears session storage");

  step("a tenant token sees its own namespace, without the admin section");
  await page.getByLabel("Token").fill(acmeToken);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await waitForText(page.locator("header"), "acme");
  await waitForText(page.locator("header"), "tenant");
  await waitForText(page.locator("main"), "No messages yet");
  check((await page.getByRole("heading", { name: /All namespaces/ }).count()) === 0, "no admin section for a tenant");
  await shot(page, "13-tenant-narrow.png");

  step("a server started with --allow-deletion=false: no deletion actions");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto(refusingUrl + "/console");
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
  await page.goto(refusingUrl + "/console#/stream/" + encodeURIComponent(deletionStream));
  await page.getByRole("heading", { name: "Stream " + deletionStream, level: 1 }).waitFor();
  await waitForText(page.locator("main .summary"), "This stream has no messages.");
  await page.getByRole("button", { name: "Tail this stream" }).waitFor();
  check((await page.getByRole("button", { name: "Delete stream…" }).count()) === 0, "no delete action");
  check((await page.getByRole("button", { name: "Truncate before…" }).count()) === 0, "no truncate action");
  await shot(page, "14-deletion-disabled.png");

  check(consoleErrors.length === 0, `browser console errors: ${consoleErrors.join(" | ")}`);
}
