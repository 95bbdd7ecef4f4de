// What a worker evaluates when it boots: index.ts imports app.ts, and everything app.ts imports
// statically runs before the first request. postgres.js (only the DATABASE_URL path uses it), the
// 1.1 MB Redoc bundle (only the docs routes serve it) and the stripe package (only the Stripe route
// uses it) must be reached through `import()` alone, so a hosted worker answering POSTs through
// PostgREST never evaluates them. Read from
// Deno's own module graph (`deno info --json`), with the function's import map.
import assert from "node:assert/strict";

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

const APP = new URL("../supabase/functions/_shared/app.ts", import.meta.url);

async function moduleGraph(): Promise<Map<string, GraphModule>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", APP.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const { modules } = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: GraphModule[] };
  return new Map(modules.map((m) => [m.specifier, m]));
}

// The modules reachable from app.ts by static imports (type-only imports evaluate nothing), and
// the targets of its dynamic ones.
function reach(graph: Map<string, GraphModule>): { evaluated: Set<string>; dynamic: Set<string> } {
  const evaluated = new Set<string>();
  const dynamic = new Set<string>();
  const queue = [APP.href];
  while (queue.length) {
    const specifier = queue.pop()!;
    if (evaluated.has(specifier)) continue;
    evaluated.add(specifier);
    for (const dependency of graph.get(specifier)?.dependencies ?? []) {
      if (!dependency.code) continue;
      if (dependency.isDynamic) dynamic.add(dependency.code.specifier);
      else queue.push(dependency.code.specifier);
    }
  }
  return { evaluated, dynamic };
}

Deno.test("a worker's boot evaluates none of postgres.js, the Redoc bundle and stripe; each loads on the path that uses it", async () => {
  const { evaluated, dynamic } = reach(await moduleGraph());
  const lazy = [/\/db_postgres\.ts$/, /^npm:\/postgres@/, /\/redoc_standalone\.js$/, /^npm:\/stripe@/];
  assert.ok(evaluated.has(new URL("../supabase/functions/_shared/db_supabase.ts", import.meta.url).href));
  assert.deepEqual([...evaluated].filter((s) => lazy.some((pattern) => pattern.test(s))), []);
  const loadedLater = [...dynamic].map((s) => s.replace(/^.*\/_shared\//, "")).sort();
  assert.deepEqual(loadedLater, ["db_postgres.ts", "npm:stripe@23.2.0", "openapi/redoc_standalone.js"]);
});
