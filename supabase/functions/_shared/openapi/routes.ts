// The GET routes of API.md §8: the OpenAPI document, the reference page and the page's
// renderer. They need no API key and never touch the database.
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

/** The page of a GET to this path of the function, or null when the path is none of them. */
export async function describedPage(pathname: string, actions: Readonly<Record<string, Action>>): Promise<Page | null> {
  const route = ROUTE.exec(pathname)?.[1];
  if (!route) return null;
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
