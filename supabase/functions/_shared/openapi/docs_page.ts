// The API reference page: Redoc (a maintained renderer, pinned from npm, see dev/renderer.ts)
// rendering the OpenAPI document, which the page carries inline. The function serves the
// page at …/openapi-operations/docs and Redoc's bundle at …/docs/redoc.standalone.js, so it
// loads nothing from elsewhere; `deno task docs` writes the same page with the bundle inline,
// one file to open or host anywhere. The 1.1 MB bundle is imported only when a page or the
// asset needs it, so a worker that only answers POSTs never evaluates it.

/** The file name the page loads the renderer from, under …/openapi-operations/docs/. */
export const RENDERER_FILE = "redoc.standalone.js";

/** The renderer's JavaScript, loaded on first use. */
export async function rendererScript(): Promise<string> {
  return (await import("./redoc_standalone.js")).default;
}

// JSON inside <script> must not close it or open a comment: `<` is written as \u003c.
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replaceAll("<", "\\u003c");
}

// What the inline renderer must not contain for the HTML parser to end its <script> where it
// ends: `</script`, `<!--` and `<script`. In Redoc's bundle they only occur inside strings and
// regular expressions, where `\x3C` means the same `<`.
function inlineScript(js: string): string {
  return js.replace(/<(?=\/script|!--|script)/gi, "\\x3C");
}

// Redoc's sidebar credits ("API docs by Redocly") show a logo from Redocly's CDN, with no
// option to turn it off; the page loads nothing from elsewhere, so that one image gets an empty
// local picture instead, however its src is set (attribute or property).
const NO_CDN_LOGO = `(() => {
  const empty = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";
  const local = (value) => String(value).startsWith("https://cdn.redoc.ly/") ? empty : value;
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    ...src,
    set(value) { src.set.call(this, local(value)); },
  });
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, this instanceof HTMLImageElement && name === "src" ? local(value) : value);
  };
})();`;

/**
 * The page: with `renderer: "linked"` it loads the renderer from `docs/redoc.standalone.js`,
 * relative to …/openapi-operations/docs (so it works under any prefix the platform adds);
 * with `{ inline: rendererScript() }` it carries the renderer itself.
 */
export function docsPage(document: unknown, renderer: "linked" | { inline: string }): string {
  const title = (document as { info?: { title?: string } }).info?.title ?? "API";
  const script = renderer === "linked"
    ? `<script src="docs/${RENDERER_FILE}"></script>`
    : `<script>${inlineScript(renderer.inline)}</script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} API reference</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; }</style>
</head>
<body>
<div id="reference"></div>
<script id="openapi-document" type="application/json">${scriptJson(document)}</script>
<script>${NO_CDN_LOGO}</script>
${script}
<script>
Redoc.init(JSON.parse(document.getElementById("openapi-document").textContent), {
  expandResponses: "200",
  requiredPropsFirst: true,
  jsonSampleExpandLevel: 3,
  hideHostname: false,
}, document.getElementById("reference"));
</script>
</body>
</html>
`;
}

/** The Content-Security-Policy of the served page: everything from the function itself (Redoc's search runs in a blob: worker). */
export const DOCS_CSP = "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; " +
  "img-src 'self' data:; font-src 'self' data:; worker-src blob:; connect-src 'self'; base-uri 'none'; form-action 'none'";
