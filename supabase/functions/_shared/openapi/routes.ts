// The GET routes of docs/operations.md ("The OpenAPI document and the docs page"): the OpenAPI
// document, the reference page and the page's renderer. They need no API key and never touch the database.
import type { Action } from "../action.ts";
import { DOCS_CSP, docsPage, RENDERER_FILE, rendererScript } from "./docs_page.ts";
import { openApiDocument } from "./document.ts";

/** What a GET route answers: the body and its headers. */
export interface Page {
  body: string;
  headers: Record<string, string>;
}

const ROUTE = new RegExp(`/openapi-operations/(openapi\\.json|docs|docs/${RENDERER_FILE.replaceAll(".", "\\.")})$`);
const bodies = new WeakMap<Readonly<Record<string, Action>>, { json: string; html: string }>();

/** A GET route of the function: the OpenAPI document, the reference page or its renderer. */
export type Route = "openapi.json" | "docs" | typeof RENDERER_PATH;
const RENDERER_PATH = `docs/${RENDERER_FILE}` as const;

/** The GET route a path names, or null when it names none (another method on it answers 405, not 404). */
export function describedRoute(pathname: string): Route | null {
  return (ROUTE.exec(pathname)?.[1] as Route | undefined) ?? null;
}

/** What a GET of a route answers. */
export async function describedPage(route: Route, actions: Readonly<Record<string, Action>>): Promise<Page> {
  let built = bodies.get(actions);
  if (!built) {
    const document = openApiDocument(actions);
    built = { json: JSON.stringify(document), html: docsPage(document, "linked") };
    bodies.set(actions, built);
  }
  if (route === "openapi.json") return { body: built.json, headers: { "Content-Type": "application/json" } };
  if (route === "docs") {
    return {
      body: built.html,
      headers: { "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": DOCS_CSP },
    };
  }
  return {
    body: await rendererScript(),
    headers: { "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=3600" },
  };
}
