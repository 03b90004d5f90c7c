// The overview: the namespace's figures (`ns.info`), its categories (`ns.categories`) and, for
// the admin token, every namespace (`ns.list`) with create and delete.

import { CategorySummary, NamespaceInfo, NamespaceSummary, rpc } from "../api";
import { errorBox, field, h, replace, table, timeEl, uid } from "../dom";
import { Page, categoryHref } from "../session";

export function overview(page: Page): void {
  const { session } = page;
  const figures = h("section", { "aria-labelledby": "figures-title" }, h("h2", { id: "figures-title" }, "Namespace"), loading());
  const categories = h("section", { "aria-labelledby": "categories-title" }, h("h2", { id: "categories-title" }, "Categories"), loading());
  replace(page.main, page.heading("Overview"), figures, categories);
  const alive = page.alive();

  rpc<NamespaceInfo>(session.token, "ns.info", session.namespace).then(
    (info) => alive() && replace(figures, h("h2", { id: "figures-title" }, "Namespace"), infoList(info)),
    (e) => alive() && figures.append(errorBox(e, "Could not read the namespace")),
  ).finally(() => figures.querySelector(".loading")?.remove());

  rpc<CategorySummary[]>(session.token, "ns.categories").then(
    (list) => {
      if (!alive()) return;
      replace(categories, h("h2", { id: "categories-title" }, "Categories"));
      if (list.length === 0) {
        categories.append(h("p", { class: "empty" }, "No messages yet. ", h("a", { href: "#/write" }, "Write one"), "."));
        return;
      }
      categories.append(
        table(
          "Categories with their stream and message counts",
          ["Category", "Streams", "Messages"],
          list.map((c) => [
            h("a", { href: categoryHref(c.category) }, c.category),
            h("a", { href: "#/streams?prefix=" + encodeURIComponent(c.category), title: "Streams whose name starts with " + c.category }, String(c.streamCount)),
            String(c.messageCount),
          ]),
        ),
      );
    },
    (e) => alive() && (categories.querySelector(".loading")?.remove(), categories.append(errorBox(e, "Could not list the categories"))),
  );

  if (session.admin) page.main.append(namespaces(page));
}

function loading(): HTMLElement {
  return h("p", { class: "loading muted" }, "Loading…");
}

function infoList(info: NamespaceInfo): HTMLElement {
  return h(
    "dl",
    { class: "figures" },
    h("div", {}, h("dt", {}, "Namespace"), h("dd", {}, info.namespace)),
    h("div", {}, h("dt", {}, "Description"), h("dd", {}, info.description || h("span", { class: "muted" }, "none"))),
    h("div", {}, h("dt", {}, "Messages"), h("dd", { class: "number" }, String(info.messageCount))),
    h("div", {}, h("dt", {}, "Streams"), h("dd", { class: "number" }, String(info.streamCount))),
    h("div", {}, h("dt", {}, "Created"), h("dd", {}, timeEl(info.createdAt))),
    h("div", {}, h("dt", {}, "Last activity"), h("dd", {}, timeEl(info.lastActivity))),
  );
}

/** The admin section: every namespace, a create form, and delete with typed confirmation. */
function namespaces(page: Page): HTMLElement {
  const { session } = page;
  const alive = page.alive();
  const listArea = h("div", {}, loading());
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const section = h(
    "section",
    { "aria-labelledby": "namespaces-title" },
    h("h2", { id: "namespaces-title", tabindex: -1 }, "All namespaces ", h("span", { class: "badge admin" }, "admin")),
    status,
    listArea,
    createForm(page, status, reload),
  );

  function reload(): void {
    rpc<NamespaceSummary[]>(session.token, "ns.list").then(
      (list) =>
        alive() &&
        replace(
          listArea,
          table(
            "Namespaces, newest first",
            ["Namespace", "Description", "Messages", "Created", ""],
            list.map((ns) => [
              ns.namespace === session.namespace ? h("strong", {}, ns.namespace) : ns.namespace,
              ns.description,
              String(ns.messageCount),
              timeEl(ns.createdAt),
              ns.namespace === "default"
                ? h("span", { class: "muted" }, "cannot be deleted")
                : h("button", { type: "button", class: "danger small", "aria-label": "Delete namespace " + ns.namespace, onclick: () => confirmDelete(page, ns.namespace, status, reload) }, "Delete…"),
            ]),
          ),
        ),
      (e) => alive() && replace(listArea, errorBox(e, "Could not list the namespaces")),
    );
  }
  reload();
  return section;
}

function createForm(page: Page, status: HTMLElement, reload: () => void): HTMLElement {
  const id = h("input", { id: uid("ns-id"), name: "namespace", required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._\\-]{0,127}", spellcheck: "false" });
  const description = h("input", { id: uid("ns-description"), name: "description", autocomplete: "off" });
  const token = h("input", { id: uid("ns-token"), name: "token", autocomplete: "off", spellcheck: "false", placeholder: "generated" });
  const button = h("button", { type: "submit", class: "primary" }, "Create namespace");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "create-title" },
    h("h3", { id: "create-title" }, "Create a namespace"),
    h("div", { class: "grid-fields" },
      field("Id", id, "Letters, digits, '.', '_' and '-'; starts with a letter or digit."),
      field("Description (optional)", description),
      field("Token (optional)", token, "Leave empty to have the server generate one."),
    ),
    h("div", { class: "actions" }, button),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const result = await rpc<{ createdAt: string; namespace: string; token: string }>(
        page.session.token,
        "ns.create",
        id.value,
        { description: description.value || undefined, token: token.value.trim() || undefined },
      );
      const tokenId = uid("new-token");
      replace(
        status,
        h(
          "div",
          { class: "success", role: "status" },
          h("p", {}, "Created namespace ", h("strong", {}, result.namespace), ". Its token is shown only this once:"),
          h("label", { for: tokenId, class: "visually-hidden" }, "Token of " + result.namespace),
          h("input", { id: tokenId, class: "token-output", readonly: true, value: result.token, onfocus: (e: Event) => (e.target as HTMLInputElement).select() }),
        ),
      );
      form.reset();
      reload();
    } catch (e) {
      replace(status, errorBox(e, "Could not create the namespace"));
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** A modal dialog that deletes `namespace` only after its id has been typed. */
function confirmDelete(page: Page, namespace: string, status: HTMLElement, reload: () => void): void {
  const opener = document.activeElement as HTMLElement | null;
  const input = h("input", { id: uid("confirm"), autocomplete: "off", spellcheck: "false" });
  const confirm = h("button", { type: "submit", class: "danger", disabled: true }, "Delete for ever");
  const cancel = h("button", { type: "button" }, "Cancel");
  const problem = h("div", { "aria-live": "polite" });
  const dialog = h(
    "dialog",
    { "aria-labelledby": "delete-title", class: "card" },
    h(
      "form",
      { method: "dialog" },
      h("h2", { id: "delete-title" }, "Delete namespace " + namespace + "?"),
      h("p", {}, "Every message in it is removed permanently, its token stops working and its subscriptions end."),
      field("Type the namespace id to confirm", input),
      problem,
      h("div", { class: "actions" }, cancel, confirm),
    ),
  );
  input.addEventListener("input", () => {
    confirm.disabled = input.value !== namespace;
  });
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    dialog.remove();
    // After a delete the opener's row is gone; the section heading is the next best place.
    const fallback = document.getElementById("namespaces-title");
    (opener?.isConnected ? opener : fallback)?.focus();
  });
  dialog.querySelector("form")!.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (input.value !== namespace) return;
    confirm.disabled = true;
    try {
      const result = await rpc<{ deletedAt: string; messagesDeleted: number; namespace: string }>(page.session.token, "ns.delete", namespace);
      dialog.close();
      replace(status, h("p", { class: "success", role: "status" }, `Deleted namespace ${result.namespace} (${result.messagesDeleted} messages).`));
      reload();
    } catch (e) {
      replace(problem, errorBox(e, "Could not delete the namespace"));
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  input.focus();
}
