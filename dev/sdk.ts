// `deno task sdk [dir]`: generates the TypeScript client that examples/sdk_example.ts uses (default
// examples/sdk/, git-ignored: generated code is never committed) from the OpenAPI document, with
// @hey-api/openapi-ts, a maintained generator (docs/guide.md, "Generated clients"). With `--url
// <openapi.json URL>` it reads a served document instead of building it from the registry.
// typescript is the generator's peer dependency: imported so that it resolves to this pinned version.
import "npm:typescript@5.9.3";
import { createClient } from "npm:@hey-api/openapi-ts@0.99.0";
import { openApiDocument } from "../supabase/functions/_shared/openapi/document.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";
import type { JsonSchema } from "../supabase/functions/_shared/validation.ts";

/** Where `deno task sdk` writes the client by default. */
export const SDK_DIR = new URL("../examples/sdk/", import.meta.url).pathname;

/** Writes the client of `document` into `dir` (replacing it): imports with `.ts` extensions, as Deno resolves them. */
export async function generateClient(document: JsonSchema, dir: string): Promise<void> {
  await createClient({
    input: structuredClone(document),
    output: { path: dir, importFileExtension: ".ts", clean: true },
    logs: { level: "silent" },
  });
}

if (import.meta.main) {
  const url = Deno.args[0] === "--url" ? Deno.args[1] : undefined;
  const dir = (url ? Deno.args[2] : Deno.args[0]) ?? SDK_DIR;
  const document = url ? await (await fetch(url)).json() : openApiDocument(actions);
  await generateClient(document, dir);
  console.log(`wrote the client into ${dir}`);
}
