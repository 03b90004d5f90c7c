// What every view is given: the signed-in session and the page it renders into.

import { h, replace } from "./dom";
import type { Tail } from "./views/tail";

/** The signed-in token and what the server said about it. */
export interface Session {
  token: string;
  /** The namespace the token is bound to. */
  namespace: string;
  /** Whether it is the admin token (the `default` namespace's, SPEC §4.5). */
  admin: boolean;
  /**
   * Whether the server lets this token use `stream.delete` and `stream.truncate`, probed at
   * sign-in (`deletionAllowed` in deletion.ts); without it the stream page offers no deletion.
   */
  deletion: boolean;
}

/**
 * The `<main>` element and the navigation that owns it. Views load asynchronously; `begin`
 * starts a new navigation, and `alive()` (captured when a view starts) turns false once the user
 * has navigated elsewhere, so a late answer never overwrites a newer page.
 */
export class Page {
  private generation = 0;

  constructor(
    readonly session: Session,
    readonly main: HTMLElement,
    readonly tail: Tail,
  ) {}

  begin(): void {
    this.generation += 1;
    replace(this.main);
  }

  /** A check that stays true while the current navigation is still on screen. */
  alive(): () => boolean {
    const mine = this.generation;
    return () => mine === this.generation;
  }

  /** Sets the page title and returns the page's `h1`. */
  heading(text: string, ...extra: (Node | string)[]): HTMLElement {
    document.title = text + " · messagedb console";
    return h("h1", { tabindex: -1 }, text, ...extra);
  }

  focusHeading(): void {
    const heading = this.main.querySelector("h1");
    if (heading instanceof HTMLElement) heading.focus();
    else this.main.focus();
  }

  notFound(): void {
    replace(
      this.main,
      this.heading("Page not found"),
      h("p", {}, "There is no console page at this address. ", h("a", { href: "#/" }, "Go to the overview"), "."),
    );
  }
}

/** `#/stream/<name>`: a link target for a stream page. */
export function streamHref(stream: string, query?: Record<string, string | number>): string {
  return "#/stream/" + encodeURIComponent(stream) + queryString(query);
}

/** `#/category/<name>`: a link target for a category page (`""` is the whole namespace). */
export function categoryHref(category: string, query?: Record<string, string | number>): string {
  return "#/category/" + encodeURIComponent(category) + queryString(query);
}

export function queryString(query?: Record<string, string | number | undefined>): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? "?" + text : "";
}
