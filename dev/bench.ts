// `deno task bench [--action create_purchase|get_leads|webhooks|compare|scale|instructions|import] [--seconds 10] [--concurrency 16] [--rounds 1] [--before REV]`:
// throughput and latency over real HTTP. Starts `dev/serve.ts` as a separate process on the
// configured database (DATABASE_URL, else the embedded one under DATA_DIR, fsync on), builds
// its own fixtures, warms up, then keeps `concurrency` requests in flight for `seconds` and
// prints one JSON line per scenario: requests/s and p50/p90/p99 latency.
// create_purchase: a channel with a fixed and a percentage purchase trigger; measured without
// and then with an Idempotency-Key (a fresh key per request), in the same run.
// get_leads: a channel with 100,000 leads (two property values each); the first page and a
// deep page (the cursor after lead 99,800).
// webhooks: see bench_webhooks.ts (`--deliveries 5000 --batch 50`).
// compare, scale: see bench_compare.ts (`--reference dev/bench_reference --pool 5 --size 1000000`); `--pool` is the
// server's DATABASE_POOL_SIZE, by default the adapter's own default (what a deployed function runs with).
// compare --before REV: see bench_before.ts (create_purchase of the git revision REV against today's, SQL and HTTP,
// in one run; `--pool` as for compare).
// instructions: see bench_instructions.ts (`--calls 200`).
// import: see bench_import.ts (import_purchases in batches of 10, 100 and 1,000 rows against single create_purchase
// calls, and without HTTP: import_purchases by pgbench and the floor of the same rows by plain INSERTs; `--pool` as for
// compare).
import { parseArgs } from "node:util";
import postgres from "postgres";
import * as ops from "./admin_ops.ts";
import { benchCompare, benchScale, projectFixture, REFERENCE_DIR } from "./bench_compare.ts";
import { benchBefore } from "./bench_before.ts";
import { benchWebhooks } from "./bench_webhooks.ts";
import { benchInstructions } from "./bench_instructions.ts";
import { benchImport } from "./bench_import.ts";
import { startServer } from "./cluster.ts";
import { openDatabase } from "./database.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    action: { type: "string", default: "create_purchase" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "1" },
    concurrency: { type: "string", default: "16" },
    deliveries: { type: "string", default: "5000" },
    batch: { type: "string", default: "50" },
    reference: { type: "string", default: REFERENCE_DIR },
    pool: { type: "string", default: "5" },
    size: { type: "string", default: "1000000" },
    calls: { type: "string", default: "200" },
    "import-concurrency": { type: "string", default: "4" },
    before: { type: "string" },
  },
});
const action = args.values.action;
const before = args.values.before;
if (!["create_purchase", "get_leads", "webhooks", "compare", "scale", "instructions", "import"].includes(action)) {
  throw new Error(`Unknown --action ${action}`);
}
if (before !== undefined && action !== "compare") throw new Error("--before goes only with --action compare");
// Its own throwaway cluster: single-user PostgreSQL needs the data directory of a stopped server.
if (action === "instructions") {
  await benchInstructions({ calls: Number(args.values.calls), referenceDir: args.values.reference });
  Deno.exit(0);
}
const seconds = Number(args.values.seconds);
const rounds = Number(args.values.rounds);
const concurrency = Number(args.values.concurrency);

const database = await openDatabase();
if (action === "webhooks" || action === "compare" || action === "scale" || action === "import") {
  const options = {
    seconds,
    rounds,
    concurrency,
    referenceDir: args.values.reference,
    poolSize: Number(args.values.pool),
    size: Number(args.values.size),
  };
  try {
    if (action === "webhooks") await benchWebhooks(database, Number(args.values.deliveries), Number(args.values.batch));
    else if (action === "compare") {
      await (before === undefined ? benchCompare(database, options) : benchBefore(database, { ...options, before }));
    } else if (action === "import") {
      await benchImport(database, { ...options, importConcurrency: Number(args.values["import-concurrency"]) });
    } else await benchScale(database, options);
  } finally {
    await database.stop();
  }
  Deno.exit(0);
}
const sql = postgres(database.url, { max: 1, onnotice: () => {} });
const { key, channelId, leadId } = await projectFixture(sql);

// Scenario name → request body and whether each request carries a fresh Idempotency-Key.
const scenarios: Record<string, { request: unknown; idempotent: boolean }> = {};
if (action === "create_purchase") {
  const request = { action, lead_id: leadId, purchase_amount: "129.99" };
  scenarios.create_purchase = { request, idempotent: false };
  scenarios["create_purchase with Idempotency-Key"] = { request, idempotent: true };
} else {
  const size = await ops.createProperty(sql, { channel: channelId, name: "Size" });
  const tier = await ops.createProperty(sql, { channel: channelId, name: "Tier" });
  await sql`
    insert into public.leads (channels_id, created_at, email, first_name)
    select ${channelId}, now() - make_interval(secs => n), 'lead' || n || '@example.com', 'Lead ' || n
    from generate_series(1, 99999) n`;
  await sql`
    insert into public.property_values (leads_id, property_definitions_id, value)
    select l.id, d.id, 'value' from public.leads l cross join (values (${size.id as string}::uuid), (${tier
    .id as string}::uuid)) d (id)
    where l.channels_id = ${channelId}`;
  await sql`analyze public.leads, public.property_values`;
  const [deep] = await sql`
    select internal.encode_cursor(created_at, id) as cursor from public.leads where channels_id = ${channelId}
    order by created_at desc, id desc offset 99799 limit 1`;
  scenarios["get_leads first page"] = { request: { action, channel_id: channelId }, idempotent: false };
  scenarios["get_leads deep page"] = {
    request: { action, channel_id: channelId, cursor: deep.cursor },
    idempotent: false,
  };
}
await sql.end();

const { process: server, url } = await startServer("./serve.ts", { DATABASE_URL: database.url });
const headers = { "Content-Type": "application/json", "X-Api-Key": key };

let requestNumber = 0;
async function load(
  body: string,
  idempotent: boolean,
  durationMs: number,
): Promise<{ latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + durationMs;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const start = performance.now();
      const res = await fetch(url, {
        method: "POST",
        headers: idempotent ? { ...headers, "Idempotency-Key": `bench-${requestNumber++}` } : headers,
        body,
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - start);
      if (res.status !== 200) errors++;
    }
  }));
  return { latencies, errors };
}

function percentile(sorted: number[], p: number): string {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(2);
}

try {
  // With several rounds the scenarios alternate, so drift of the machine or the growing
  // tables does not favour the one measured first.
  for (let round = 1; round <= rounds; round++) {
    for (const [scenario, { request, idempotent }] of Object.entries(scenarios)) {
      const body = JSON.stringify(request);
      await load(body, idempotent, 2000);
      const { latencies, errors } = await load(body, idempotent, seconds * 1000);
      latencies.sort((a, b) => a - b);
      console.log(JSON.stringify({
        scenario,
        round,
        database: database.embedded ? "embedded PostgreSQL 17" : "DATABASE_URL",
        concurrency,
        seconds,
        requests: latencies.length,
        errors,
        requests_per_second: Math.round(latencies.length / seconds),
        p50_ms: percentile(latencies, 0.5),
        p90_ms: percentile(latencies, 0.9),
        p99_ms: percentile(latencies, 0.99),
      }));
    }
  }
} finally {
  server.kill("SIGINT");
  await server.status;
  await database.stop();
}
