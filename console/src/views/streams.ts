// The streams browser: `ns.streams` with prefix search and cursor paging. The page's state
// (prefix, cursor, page size) lives in the URL, so the back button returns to the previous page.

import { rpc, StreamSummary } from "../api";
import { errorBox, field, h, replace, table, timeEl, uid } from "../dom";
import { Page, queryString, streamHref } from "../session";

const PAGE_SIZES = [25, 100, 500];

export function streams(page: Page, query: URLSearchParams): void {
  const prefix = query.get("prefix") ?? "";
  const after = query.get("after") ?? "";
  const limit = PAGE_SIZES.includes(Number(query.get("limit"))) ? Number(query.get("limit")) : PAGE_SIZES[0];

  const prefixInput = h("input", { id: uid("prefix"), type: "search", name: "prefix", value: prefix, autocomplete: "off", spellcheck: "false" });
  const limitSelect = h("select", { id: uid("limit"), name: "limit" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, String(n))));
  const form = h(
    "form",
    { class: "toolbar", role: "search", "aria-label": "Find streams" },
    field("Name starts with", prefixInput, "Literal text; empty lists every stream."),
    field("Per page", limitSelect),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Search")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    location.hash = "#/streams" + queryString({ prefix: prefixInput.value, limit: limitSelect.value === String(PAGE_SIZES[0]) ? undefined : limitSelect.value });
  });
  const results = h("div", { "aria-live": "polite", "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  replace(page.main, page.heading("Streams"), form, results);
  const alive = page.alive();

  rpc<StreamSummary[]>(page.session.token, "ns.streams", { prefix, limit, cursor: after }).then(
    (list) => {
      if (!alive()) return;
      results.setAttribute("aria-busy", "false");
      const here = { prefix, limit: limit === PAGE_SIZES[0] ? undefined : limit };
      const pager = h(
        "nav",
        { class: "pager", "aria-label": "Stream pages" },
        after ? h("a", { href: "#/streams" + queryString(here) }, "First page") : null,
        list.length === limit
          ? h("a", { href: "#/streams" + queryString({ ...here, after: list[list.length - 1].stream }), rel: "next" }, "Next page")
          : null,
      );
      if (list.length === 0) {
        replace(results, h("p", { class: "empty" }, after ? "No more streams." : prefix ? `No stream name starts with “${prefix}”.` : "No streams yet."), pager);
        return;
      }
      const summary = after ? `Streams after “${after}”` : "Streams";
      replace(
        results,
        table(
          summary + (prefix ? ` starting with “${prefix}”` : "") + ", in name order",
          ["Stream", "Version", "Last activity"],
          list.map((s) => [h("a", { href: streamHref(s.stream) }, s.stream), String(s.version), timeEl(s.lastActivity)]),
        ),
        pager,
      );
    },
    (e) => alive() && replace(results, errorBox(e, "Could not list the streams")),
  );
}
