// `deno task start`: serves the function at
// http://127.0.0.1:${PORT:-8000}/functions/v1/openapi-operations on DATABASE_URL, or on an
// embedded PostgreSQL 17 under DATA_DIR (default .data/) that starts and stops with it.
import postgres from "postgres";
import { resolve } from "node:path";
import { openDatabase } from "./database.ts";
import { ensureDemo } from "./demo.ts";
import { createApp } from "../supabase/functions/_shared/app.ts";
import { notFound } from "../supabase/functions/_shared/handler.ts";

const PATH = "/functions/v1/openapi-operations";
const port = Number(Deno.env.get("PORT") ?? "8000");
// A port in use is refused before the embedded database starts, so a failed start leaves nothing running.
try {
  Deno.listen({ hostname: "127.0.0.1", port }).close();
} catch (error) {
  if (!(error instanceof Deno.errors.AddrInUse)) throw error;
  console.error(
    `Port ${port} is in use on 127.0.0.1: stop what listens there, or start on another port (PORT=${
      port + 1
    } deno task start)`,
  );
  Deno.exit(1);
}
const database = await openDatabase();
// The deployed function's own composition, on this database. Webhooks to loopback or private
// addresses are refused unless WEBHOOK_ALLOW_PRIVATE_URLS=true (a receiver on this machine).
const app = createApp((name) => name === "DATABASE_URL" ? database.url : Deno.env.get(name));
// Retries come due while nothing else happens: sweep every 5 seconds (pg_cron does it when deployed).
const sweepTimer = setInterval(app.sweepInBackground, 5_000);

const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req, info) => {
  const path = new URL(req.url).pathname;
  // The function answers its own subpaths: the sweep endpoint, the OpenAPI document and the
  // reference page (GET …/openapi.json, …/docs), and 405 for any other GET.
  if (path === PATH || path.startsWith(`${PATH}/`)) return app.handler(req, info);
  return notFound(req);
});

// Supabase purges expired idempotency keys with pg_cron; locally the server does it hourly.
const purgeSql = postgres(database.url, { max: 1, onnotice: () => {} });
async function purgeIdempotencyKeys() {
  try {
    await purgeSql`select internal.purge_idempotency_keys()`;
  } catch (error) {
    console.error(`idempotency key purge failed: ${error}`);
  }
}
const purgeTimer = setInterval(purgeIdempotencyKeys, 60 * 60 * 1000);

// Ctrl-C stops the server and the embedded database, also while the demo is still being set up.
async function shutdown() {
  clearInterval(purgeTimer);
  clearInterval(sweepTimer);
  await server.shutdown();
  await purgeSql.end();
  await app.close();
  await database.stop();
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);

const url = `http://127.0.0.1:${port}${PATH}`;
console.log(`openapi-operations listening on ${url}`);
console.log(`API reference: ${url}/docs (OpenAPI document: ${url}/openapi.json)`);
console.log(database.embedded ? `database: embedded PostgreSQL (${database.url})` : "database: DATABASE_URL");
if (database.applied.length) console.log(`migrations applied: ${database.applied.join(", ")}`);

// A word the shell takes as it is, else in single quotes.
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}

if (database.embedded) {
  const dataDir = Deno.env.get("DATA_DIR") ?? ".data";
  const demoFile = `${dataDir}/demo.json`;
  // `deno task admin` in another shell opens DATA_DIR too: without this line it would open (and
  // create) the default .data, not this demo's database.
  const dataDirLine = resolve(dataDir) === resolve(".data") ? "" : `export DATA_DIR=${shellWord(resolve(dataDir))}\n`;
  const demo = await ensureDemo(database.url, demoFile);
  const body = JSON.stringify({
    action: "create_purchase",
    lead_id: demo.lead_id,
    product_id: demo.product_id,
    purchase_amount: 12500,
    date: "2025-04-01T00:00:00.000Z",
    description: "Annual subscription",
  });
  // The shell variables the README's and the guide's examples use.
  console.log(`\nDemo data ready (keys in ${demoFile}). Paste these into your shell:\n
${dataDirLine}export API=${url}
export RECEIVING_KEY=${demo.receiving_api_key}
export REFERRING_KEY=${demo.referring_api_key}
export CHANNEL_ID=${demo.channel_id}
export LEAD_ID=${demo.lead_id}
export PRODUCT_ID=${demo.product_id}
export PAYOUTS_CHANNEL_ID=${demo.payouts_channel_id}

Record a purchase:

curl -X POST ${url} \\
  -H "Content-Type: application/json" \\
  -H "X-Api-Key: ${demo.receiving_api_key}" \\
  -d '${body}'\n`);
}

await purgeIdempotencyKeys();
