// `deno task docs [file]`: writes the API reference as one self-contained HTML file (default
// api-reference.html): the page the function serves at …/openapi-operations/docs, with the
// renderer and the OpenAPI document inline, to open from disk or host anywhere (hosted
// Supabase serves text/html as text/plain on its default domain).
import { docsPage, rendererScript } from "../supabase/functions/_shared/openapi/docs_page.ts";
import { openApiDocument } from "../supabase/functions/_shared/openapi/document.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";

/** The static page's HTML. */
export async function staticDocs(): Promise<string> {
  return docsPage(openApiDocument(actions), { inline: await rendererScript() });
}

if (import.meta.main) {
  const out = Deno.args[0] ?? "api-reference.html";
  const html = await staticDocs();
  await Deno.writeTextFile(out, html);
  console.log(`wrote ${out} (${new TextEncoder().encode(html).length} bytes)`);
}
