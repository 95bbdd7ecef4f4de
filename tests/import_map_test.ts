// `supabase functions deploy` uploads the function with its import map but not deno.lock, so
// every npm range inside the graph would resolve afresh at each deploy. The import map pins
// every package of the deployed graph, transitive ones included, to the version in deno.lock
// (Deno's resolver reuses a version already required when it satisfies a dependency's range);
// this test keeps the two from drifting apart, and checks that the function's code imports every
// pinned package (supabase/functions/openapi-operations/npm_pins.ts): an entry nothing imports
// pins nothing in a graph built from index.ts.
import assert from "node:assert/strict";

interface Lock {
  specifiers: Record<string, string>;
  npm: Record<string, { dependencies?: string[] }>;
}

const root = new URL("../", import.meta.url);
const { imports } = JSON.parse(
  await Deno.readTextFile(new URL("supabase/functions/openapi-operations/deno.json", root)),
) as { imports: Record<string, string> };
const lock = JSON.parse(await Deno.readTextFile(new URL("deno.lock", root))) as Lock;

// "@scope/name@1.2.3_peer@4.5.6" → ["@scope/name", "1.2.3"]
function nameAndVersion(id: string): [string, string] {
  const at = id.indexOf("@", 1);
  return [id.slice(0, at), id.slice(at + 1).split("_")[0]];
}

// A lock entry's dependency is "name" (the only version in the lock) or "name@version".
function lockEntry(dependency: string): string {
  if (lock.npm[dependency]) return dependency;
  const matches = Object.keys(lock.npm).filter((id) => nameAndVersion(id)[0] === dependency);
  assert.equal(matches.length, 1, `${dependency} in deno.lock: ${matches.join(", ")}`);
  return matches[0];
}

Deno.test("the function's import map pins every npm package of its graph to the version in deno.lock", () => {
  const pinned = new Map<string, string>();
  for (const [key, target] of Object.entries(imports)) {
    // A key is the package's name, or the name and a subpath of it (`zod/v4`).
    const match = /^npm:(@?[^@]+)@(\d+\.\d+\.\d+[^\s/]*)(\/[^\s]*)?$/.exec(target);
    assert.ok(match, `${key}: ${target} is not an exact npm version`);
    assert.equal(key, match[1] + (match[3] ?? ""), `${key} maps to another package`);
    pinned.set(match[1], match[2]);
  }
  // From the import map's own entries (as deno.lock resolved them) through their dependencies.
  const graph = new Map<string, string>();
  const packages = Object.values(imports).map((target) => target.replace(/^(npm:@?[^@]+@[^/]+)\/.*$/, "$1"));
  const queue = packages.filter((target) => lock.specifiers[target]).map((target) => {
    const [name] = nameAndVersion(target.slice(4));
    return `${name}@${lock.specifiers[target]}`;
  });
  while (queue.length) {
    const id = lockEntry(queue.pop()!);
    const [name, version] = nameAndVersion(id);
    if (graph.has(name)) {
      assert.equal(graph.get(name), version, `two versions of ${name}`);
      continue;
    }
    graph.set(name, version);
    queue.push(...(lock.npm[id].dependencies ?? []));
  }
  assert.ok(graph.has("tslib") && graph.has("fast-sha256"));
  assert.deepEqual(new Map([...pinned].sort()), new Map([...graph].sort()));
});

// The bare specifiers a module imports (static, side-effect and dynamic imports).
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:from |import |import\()"([^".][^"]*)"/g)].map((m) => m[1]);
}

Deno.test("npm_pins.ts imports every transitive package of the import map, so the deployed graph holds the pins", async () => {
  const functions = new URL("supabase/functions/", root);
  const pins = new URL("openapi-operations/npm_pins.ts", functions);
  const direct = new Set<string>();
  for await (const file of walk(functions)) {
    if (file.href !== pins.href) importsOf(await Deno.readTextFile(file)).forEach((s) => direct.add(s));
  }
  const transitive = Object.keys(imports).filter((name) => !direct.has(name)).sort();
  assert.ok(transitive.includes("iceberg-js"));
  assert.deepEqual(importsOf(await Deno.readTextFile(pins)).sort(), transitive);
  const entry = await Deno.readTextFile(new URL("openapi-operations/index.ts", functions));
  assert.match(entry, /^import "\.\/npm_pins\.ts";$/m);
});

async function* walk(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* walk(url);
    else if (entry.name.endsWith(".ts")) yield url;
  }
}
