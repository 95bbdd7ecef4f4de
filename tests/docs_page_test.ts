// The reference page in a real browser (docs/operations.md, "The OpenAPI document and the
// docs page"): Debian's Chromium, headless, driven by playwright-core. The page the real handler serves on 127.0.0.1 renders with no console
// error, requests nothing outside the function's origin and shows every action of the
// registry, grouped by resource tag; so does the static file of `deno task docs`, opened from disk.
import assert from "node:assert/strict";
import { chromium } from "npm:playwright-core@1.65.1";
import type { BrowserContext, Page } from "npm:playwright-core@1.65.1";
import { createHandler, notFound } from "../supabase/functions/_shared/handler.ts";
import { actions } from "../supabase/functions/_shared/registry.ts";
import type { Db } from "../supabase/functions/_shared/db.ts";
import { staticDocs } from "../dev/docs.ts";
import { operationId } from "../supabase/functions/_shared/openapi/document.ts";

const CHROMIUM = "/usr/bin/chromium";
// CI runs as root, where Chromium refuses its sandbox, on machines with no outside network.
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const PATH = "/functions/v1/openapi-operations";
const names = Object.keys(actions);

interface Visit {
  errors: string[];
  requests: string[];
  loadMs: number;
}

// Opens a URL and waits until the page shows every action's name; records console errors,
// page errors and every request the page makes.
async function visit(context: BrowserContext, url: string, screenshot?: string): Promise<Visit> {
  const page: Page = await context.newPage();
  const visit: Visit = { errors: [], requests: [], loadMs: 0 };
  page.on("console", (message) => {
    if (message.type() === "error") visit.errors.push(message.text());
  });
  page.on("pageerror", (error) => visit.errors.push(String(error)));
  page.on("request", (request) => visit.requests.push(request.url()));
  const start = performance.now();
  await page.goto(url, { waitUntil: "load" });
  // Page functions run in the browser: given as text, since Deno's types have no DOM.
  await page.waitForFunction(`${JSON.stringify(names)}.every((name) => document.body.innerText.includes(name))`, null, {
    timeout: 60_000,
  });
  visit.loadMs = Math.round(performance.now() - start);
  const text = await page.evaluate("document.body.innerText") as string;
  for (const name of names) assert.ok(text.includes(name), name);
  // The menu groups the actions' own operations by resource tag (Redoc's item ids: tag/<tag>/operation/<id>).
  const items = await page.evaluate(
    `[...document.querySelectorAll("[data-item-id]")].map((item) => item.getAttribute("data-item-id"))`,
  ) as string[];
  for (const [name, action] of Object.entries(actions)) {
    const item = `tag/${action.doc!.resource}/operation/${operationId(name)}`;
    assert.ok(items.includes(item), `${item} in ${items.join(" ")}`);
  }
  if (screenshot) await page.screenshot({ path: screenshot });
  await page.close();
  return visit;
}

Deno.test("the reference page renders in headless Chromium from the function alone", async (t) => {
  assert.ok(await Deno.stat(CHROMIUM).catch(() => null), `${CHROMIUM} is missing: apt-get install chromium`);
  const dbCalls: string[] = [];
  const db = {
    rpc: (name: string) => (dbCalls.push(name), Promise.reject(new Error("no database"))),
    close: () => Promise.resolve(),
  } as unknown as Db;
  const handler = createHandler({ db });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    return path === PATH || path.startsWith(`${PATH}/`) ? handler(req) : notFound(req);
  });
  const origin = `http://127.0.0.1:${server.addr.port}`;
  const dir = await Deno.makeTempDir({ prefix: "docs-page-test-" });
  const context = await chromium.launchPersistentContext(`${dir}/profile`, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  try {
    await t.step(
      "…/docs served by the handler: every action shown, no console error, nothing from elsewhere",
      async () => {
        const screenshot = Deno.env.get("DOCS_SCREENSHOT") ?? `${dir}/docs.png`;
        const seen = await visit(context, `${origin}${PATH}/docs`, screenshot);
        assert.deepEqual(seen.errors, [], seen.requests.join("\n"));
        const outside = seen.requests.filter((url) => !/^(data|blob):/.test(url) && new URL(url).origin !== origin);
        assert.deepEqual(outside, []);
        assert.ok(seen.requests.includes(`${origin}${PATH}/docs/redoc.standalone.js`), seen.requests.join("\n"));
        assert.deepEqual(dbCalls, []);
        console.log(
          `docs page: all ${names.length} actions shown ${seen.loadMs} ms after navigation (screenshot ${screenshot})`,
        );
      },
    );

    await t.step("the static file of deno task docs, opened from disk, renders every action on its own", async () => {
      const file = `${dir}/api-reference.html`;
      await Deno.writeTextFile(file, await staticDocs());
      const seen = await visit(context, `file://${file}`);
      assert.deepEqual(seen.errors, [], seen.requests.join("\n"));
      // blob: URLs are objects the page made itself (Redoc's search worker), not requests.
      const outside = seen.requests.filter((url) => !/^(data|blob):/.test(url) && url !== `file://${file}`);
      assert.deepEqual(outside, []);
      console.log(
        `static page: ${(await Deno.stat(file)).size} bytes, all actions shown ${seen.loadMs} ms after opening`,
      );
    });
  } finally {
    await context.close();
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
