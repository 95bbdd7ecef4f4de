// `deno task start`: serves the function at
// http://127.0.0.1:${PORT:-8000}/functions/v1/openapi-operations on DATABASE_URL, or on an
// embedded PostgreSQL 17 under DATA_DIR (default .data/) that starts and stops with it.
import postgres from "postgres";
import { openDatabase } from "./database.ts";
import { ensureDemo } from "./demo.ts";
import { createPostgresDb } from "../supabase/functions/_shared/db_postgres.ts";
import { createHandler, notFound } from "../supabase/functions/_shared/handler.ts";
import { createWebhookSweeper } from "../supabase/functions/_shared/webhooks.ts";

const PATH = "/functions/v1/openapi-operations";
const port = Number(Deno.env.get("PORT") ?? "8000");
const database = await openDatabase();
const db = createPostgresDb(database.url);
// Webhooks to loopback or private addresses are refused unless WEBHOOK_ALLOW_PRIVATE_URLS=true
// (for a receiver on this machine during development).
const sweeper = createWebhookSweeper({ db, allowPrivateUrls: Deno.env.get("WEBHOOK_ALLOW_PRIVATE_URLS") === "true" });
// One sweep at a time in this process; a kick during a sweep is picked up by the next one.
let sweeping: Promise<unknown> | null = null;
function sweepInBackground() {
  sweeping ??= sweeper.sweep()
    .catch((error) => console.error(`webhook sweep failed: ${error}`))
    .finally(() => sweeping = null);
}
const handler = createHandler({
  db,
  onWebhooksQueued: sweepInBackground,
  sweep: { sweeper, secret: Deno.env.get("WEBHOOK_SWEEP_SECRET") },
});
// Retries come due while nothing else happens: sweep every 5 seconds.
const sweepTimer = setInterval(sweepInBackground, 5_000);

const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
  const path = new URL(req.url).pathname;
  if (path === PATH || path === `${PATH}/sweep-webhooks`) return handler(req);
  return notFound(req);
});

const url = `http://127.0.0.1:${port}${PATH}`;
console.log(`openapi-operations listening on ${url}`);
console.log(database.embedded ? `database: embedded PostgreSQL (${database.url})` : "database: DATABASE_URL");
if (database.applied.length) console.log(`migrations applied: ${database.applied.join(", ")}`);

if (database.embedded) {
  const demoFile = `${Deno.env.get("DATA_DIR") ?? ".data"}/demo.json`;
  const demo = await ensureDemo(database.url, demoFile);
  const body = JSON.stringify({
    action: "create_purchase",
    lead_id: demo.lead_id,
    product_id: demo.product_id,
    purchase_amount: 12500,
    date: "2025-04-01T00:00:00.000Z",
    description: "Annual subscription",
  });
  console.log(`\nDemo data ready (keys in ${demoFile}). Record a purchase:\n
curl -X POST ${url} \\
  -H "Content-Type: application/json" \\
  -H "X-Api-Key: ${demo.receiving_api_key}" \\
  -d '${body}'\n`);
}

// Supabase purges expired idempotency keys with pg_cron; locally the server does it hourly.
const purgeSql = postgres(database.url, { max: 1, onnotice: () => {} });
async function purgeIdempotencyKeys() {
  try {
    await purgeSql`select internal.purge_idempotency_keys()`;
  } catch (error) {
    console.error(`idempotency key purge failed: ${error}`);
  }
}
await purgeIdempotencyKeys();
const purgeTimer = setInterval(purgeIdempotencyKeys, 60 * 60 * 1000);

async function shutdown() {
  clearInterval(purgeTimer);
  clearInterval(sweepTimer);
  await server.shutdown();
  await sweeping;
  await purgeSql.end();
  await db.close();
  await database.stop();
  Deno.exit(0);
}
Deno.addSignalListener("SIGINT", shutdown);
Deno.addSignalListener("SIGTERM", shutdown);
